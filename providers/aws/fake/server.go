// Package fake is a wire-level fake of the AWS APIs the aws adapter calls:
// EC2 and STS over the Query protocol (form-encoded requests, XML answers,
// <Response><Errors> errors) and SSM over JSON 1.1. One httptest server
// answers all three; the adapter's tests point the real SDK at it with
// BaseEndpoint. Every parameter is checked by its type before the action
// runs (types.go), as EC2 checks them. Instances boot as real SSH hosts
// through the fakecloud kit; an instance's public IP is a loopback address
// that leads to its host's sshd only while its security groups allow
// tcp/22 from the client (reach.go, on the kit's front).
package fake

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// Config describes the fake account. Zero fields get the defaults noted.
type Config struct {
	// Regions offered (default us-east-1, us-west-2, eu-west-1); each has
	// zones <region>a, <region>b, <region>c with a default subnet.
	Regions []string
	// NotOptedIn are regions that exist but this account has not enabled
	// (opt-in regions such as af-south-1): DescribeRegions lists them only
	// with AllRegions, as not-opted-in, and calls to them are refused.
	NotOptedIn []string
	// Types offered in every zone (default c8i.large, c8i.xlarge,
	// c8i-flex.large, m8i.large, c5.metal, c6g.metal, t3.large). Each has
	// the architecture EC2 gives its family (TypeArch): arm64 for
	// Graviton, x86_64 otherwise.
	Types []string
	// AccessKeys maps access key id → secret (default AKIDFAKE → "fake-secret").
	AccessKeys map[string]string
	// Account id (default 123456789012).
	Account string
	// WebIdentityToken is the OIDC token AssumeRoleWithWebIdentity accepts
	// for RoleARN; empty disables web identity.
	WebIdentityToken string
	RoleARN          string
	// SessionTTL is how long the sessions AssumeRoleWithWebIdentity mints
	// last (default: the DurationSeconds asked for, or an hour). A request
	// signed with an expired session is refused as AWS refuses it: EC2
	// with RequestExpired, STS with ExpiredToken, SSM with
	// ExpiredTokenException.
	SessionTTL time.Duration
	// Booter boots instances; nil means instances never finish booting.
	Booter fakecloud.Booter
	// ClientAddr is the address connections to instances come from, which
	// their security groups must allow tcp/22 from (default
	// DefaultClientAddr; see SetClientAddr).
	ClientAddr string
	Logger     *slog.Logger
}

// UbuntuParameter and UbuntuARMParameter are the public SSM parameters of
// Canonical's Ubuntu 24.04 images, x86_64 and arm64, which the adapter
// resolves by default; UbuntuAMI and UbuntuARMAMI are the AMIs they name.
// Their root device is /dev/sda1, an 8 GiB gp3 snapshot.
const (
	UbuntuParameter    = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
	UbuntuARMParameter = "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"
	UbuntuAMI          = "ami-0fa1ce00000002404"
	UbuntuARMAMI       = "ami-0fa1ce000000a2404"
)

// AmazonLinux2Parameter is the public SSM parameter of Amazon Linux 2
// (x86_64, gp2) and AmazonLinux2AMI the AMI it names: an image whose root
// device is /dev/xvda, not /dev/sda1, an 8 GiB gp2 snapshot. A launch
// that sizes /dev/sda1 on it adds a volume and leaves the root at 8 GiB.
const (
	AmazonLinux2Parameter = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"
	AmazonLinux2AMI       = "ami-0a2a2a00000000002"
)

// Image is a fake AMI. Its root volume is made from one EBS snapshot, as
// on EC2: a launch gets the root at the snapshot's size and volume type,
// resized (or retyped) only by a block-device mapping that names the
// image's RootDevice; a mapping under any other name is a volume more.
type Image struct {
	Name string
	// Arch is EC2's architecture name: x86_64 or arm64.
	Arch string
	// Owner is the owning account (default 099720109477, Canonical's).
	Owner string
	// RootDevice is the root volume's device name (rootDeviceName):
	// /dev/sda1 on Ubuntu's images, /dev/xvda on Amazon Linux's. Empty
	// is an image that names none, which no EBS-backed AMI is: for tests
	// of what a client makes of one.
	RootDevice string
	// SnapshotGB is the root snapshot's size in GiB (default 8): the root
	// volume's size unless the launch asks for more, and the least it may ask for.
	SnapshotGB int
	// VolumeType is the root snapshot's volume type (default gp2).
	VolumeType string
	// SnapshotID is the root snapshot's id (default made from the image's).
	SnapshotID string
}

// Server is the fake. Close it when the test ends.
type Server struct {
	*fakecloud.Kit
	URL string

	cfg       Config
	srv       *httptest.Server
	instances fakecloud.Store[Instance]
	groups    fakecloud.Store[Group]
	volumes   fakecloud.Store[Volume]
	ifaces    fakecloud.Store[NetworkInterface]
	spots     fakecloud.Store[SpotRequest]
	// extraSubnets are the subnets AddSubnet made, in VPCs of their own.
	extraSubnets fakecloud.Store[Subnet]
	images       fakecloud.Store[Image]
	ssm          fakecloud.Store[string] // parameter → value

	mu sync.Mutex
	// sessions holds, by minted access key id, what was minted.
	sessions map[string]session
	tokens   map[string]string // client token → instance id
	// keepENIs makes launches' network interfaces outlive their instances
	// (KeepInterfaces), to test that a leftover one is reported.
	keepENIs bool
	// unoffered are zone/type pairs EC2 does not offer (Unoffer).
	unoffered map[[2]string]bool
	// hidePendingVolumes keeps a pending instance's root volume out of
	// DescribeVolumes (HideVolumesWhilePending).
	hidePendingVolumes bool
	// endLaunches are the state reasons the next launches end with
	// instead of running (EndLaunches), first first.
	endLaunches []StateReason
	// pageLimit caps the items a paginated describe reads per page below
	// MaxResults (LimitPages); 0 means MaxResults alone.
	pageLimit int
	// ignoreDryRun are the actions done for real despite DryRun (IgnoreDryRun).
	ignoreDryRun map[string]bool
	// dryLaunches are the forms of RunInstances dry runs that passed.
	dryLaunches []map[string]string
}

// New starts the fake.
func New(cfg Config) *Server {
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{"us-east-1", "us-west-2", "eu-west-1"}
	}
	if len(cfg.Types) == 0 {
		cfg.Types = []string{"c8i.large", "c8i.xlarge", "c8i-flex.large", "m8i.large", "c5.metal", "c6g.metal", "t3.large"}
	}
	if cfg.AccessKeys == nil {
		cfg.AccessKeys = map[string]string{"AKIDFAKE": "fake-secret"}
	}
	if cfg.Account == "" {
		cfg.Account = "123456789012"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = DefaultClientAddr
	}
	s := &Server{
		Kit: fakecloud.New(cfg.Booter, cfg.Logger),
		cfg: cfg, sessions: map[string]session{}, tokens: map[string]string{}, unoffered: map[[2]string]bool{},
	}
	s.SetFirewall(s.sshAllowed)
	if err := s.SetClientAddr(cfg.ClientAddr); err != nil {
		panic("fake.New: Config.ClientAddr: " + err.Error())
	}
	s.PutImage(UbuntuAMI, Image{Name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260101", Arch: "x86_64",
		RootDevice: "/dev/sda1", VolumeType: "gp3"}, UbuntuParameter)
	s.PutImage(UbuntuARMAMI, Image{Name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20260101", Arch: "arm64",
		RootDevice: "/dev/sda1", VolumeType: "gp3"}, UbuntuARMParameter)
	s.PutImage(AmazonLinux2AMI, Image{Name: "amzn2-ami-hvm-2.0.20260101.0-x86_64-gp2", Arch: "x86_64", Owner: "137112412989",
		RootDevice: "/dev/xvda", VolumeType: "gp2"}, AmazonLinux2Parameter)
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close halts every instance's host and stops the server.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Kit.Close(ctx) //nolint:errcheck // best effort at test end
	s.srv.Close()
}

// AddImage makes an AMI of architecture arch (x86_64 or arm64)
// resolvable, optionally behind an SSM parameter: rooted at /dev/sda1 on
// an 8 GiB gp2 snapshot (PutImage for another root).
func (s *Server) AddImage(id, name, arch, parameter string) {
	s.PutImage(id, Image{Name: name, Arch: arch, RootDevice: "/dev/sda1"}, parameter)
}

// PutImage makes AMI id resolvable as img, optionally behind an SSM
// parameter. img.RootDevice is taken as given, empty too; its other zero
// fields get the defaults Image notes.
func (s *Server) PutImage(id string, img Image, parameter string) {
	if img.Owner == "" {
		img.Owner = "099720109477"
	}
	if img.SnapshotGB == 0 {
		img.SnapshotGB = 8
	}
	if img.VolumeType == "" {
		img.VolumeType = "gp2"
	}
	if img.SnapshotID == "" {
		img.SnapshotID = "snap-" + shortHash(id)
	}
	s.images.Put(id, img)
	if parameter != "" {
		s.ssm.Put(parameter, id)
	}
}

// SetParameter sets an SSM parameter to value, whatever it names: an
// image parameter may point at an AMI that is gone, or at no AMI at all.
func (s *Server) SetParameter(name, value string) { s.ssm.Put(name, value) }

func (s *Server) zones(region string) []string {
	return []string{region + "a", region + "b", region + "c"}
}

func (s *Server) offersRegion(r string) bool {
	for _, x := range s.cfg.Regions {
		if x == r {
			return true
		}
	}
	return false
}

// caller is who signed a request.
type caller struct {
	key, region, service string
}

var (
	credScope     = regexp.MustCompile(`Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request`)
	signedHeaders = regexp.MustCompile(`SignedHeaders=([^,\s]+)`)
)

// mintedSecret is the secret of every session key AssumeRoleWithWebIdentity
// mints.
const mintedSecret = "minted-secret"

// bodyKey carries the request body, read once by ServeHTTP, to authenticate.
type bodyKey struct{}

// authenticate checks SigV4 as AWS does: a known access key id (for minted
// session keys, with the matching session token) and a signature that the
// SDK's own signer, given that key's secret, computes the same from the
// signed headers and the body.
func (s *Server) authenticate(r *http.Request) (caller, *apiError) {
	authz := r.Header.Get("Authorization")
	m := credScope.FindStringSubmatch(authz)
	if m == nil {
		return caller{}, errf(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
	}
	c := caller{key: m[1], region: m[3], service: m[4]}
	secret, ok := s.cfg.AccessKeys[c.key]
	token, expires := "", time.Time{}
	if !ok {
		s.mu.Lock()
		sess, minted := s.sessions[c.key]
		s.mu.Unlock()
		if !minted || sess.token != r.Header.Get("X-Amz-Security-Token") {
			return caller{}, errf(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		secret, token, expires = mintedSecret, sess.token, sess.expires
	}
	if !s.signatureMatches(r, authz, sdk.Credentials{AccessKeyID: c.key, SecretAccessKey: secret, SessionToken: token}, m[3], m[4]) {
		return caller{}, errf(http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	if !expires.IsZero() && !time.Now().Before(expires) {
		// STS's answer; EC2 and SSM say it their own way (expiredError).
		return caller{}, errf(http.StatusForbidden, "ExpiredToken", "The security token included in the request is expired")
	}
	return c, nil
}

// session is what AssumeRoleWithWebIdentity minted for one access key id.
type session struct {
	token   string
	expires time.Time
}

// ExpireSessions ends every session minted so far, as the passing of
// their expiration would: requests signed with them are refused from now
// on, and only freshly minted credentials get through.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		sess.expires = time.Now().Add(-time.Second)
		s.sessions[id] = sess
	}
}

// signatureMatches re-signs a copy of r holding only the headers r says it
// signed, and compares the Authorization headers.
func (s *Server) signatureMatches(r *http.Request, authz string, creds sdk.Credentials, region, service string) bool {
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	sh := signedHeaders.FindStringSubmatch(authz)
	if sh == nil {
		return false
	}
	body, _ := r.Context().Value(bodyKey{}).([]byte)
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return false
	}
	cp.ContentLength = int64(len(body))
	for _, h := range strings.Split(sh[1], ";") {
		if h != "host" && h != "content-length" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, cp, hex.EncodeToString(sum[:]), service, region, when); err != nil {
		return false
	}
	return hmac.Equal([]byte(cp.Header.Get("Authorization")), []byte(authz))
}

func requestID() string {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ServeHTTP routes by protocol: X-Amz-Target means JSON (SSM); otherwise
// the form's Version picks EC2 (2016-11-15) or STS (2011-06-15).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
		s.serveSSM(w, r, target, body)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeEC2Error(w, errf(http.StatusBadRequest, "MalformedQueryString", "%v", err))
		return
	}
	p := params{v: form}
	switch p.get("Version") {
	case "2016-11-15":
		s.serveEC2(w, r, p)
	case "2011-06-15":
		s.serveSTS(w, r, p)
	default:
		writeEC2Error(w, errf(http.StatusBadRequest, "InvalidAction", "unsupported Version %q", p.get("Version")))
	}
}

func writeEC2Error(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.Status)
	d := &xmlDoc{}
	d.b.WriteString(xml.Header)
	d.open("Response").open("Errors").open("Error").el("Code", e.Code).el("Message", e.Message).close().close().
		el("RequestID", requestID())
	io.WriteString(w, d.String()) //nolint:errcheck // client gone
}

func writeXML(w http.ResponseWriter, d *xmlDoc) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	io.WriteString(w, d.String()) //nolint:errcheck // client gone
}

// Deny makes the account's policy refuse op as IAM does: 403
// UnauthorizedOperation, with EC2's wording and an encoded authorization
// failure message (opaque: only sts DecodeAuthorizationMessage reads it).
// Denying an action ("RunInstances") denies its DryRun too, since IAM
// checks a dry run against the same action; "dryrun:RunInstances" denies
// only the dry run's check.
func (s *Server) Deny(op string) { s.DenyWhen(op, nil) }

// DenyWhen is Deny for only the calls whose parameters when holds for, as
// a policy's condition does: DenyWhen("RunInstances", unless IMDSv2 is
// required) is an SCP that refuses launches, and their dry runs, without
// MetadataOptions.HttpTokens=required.
func (s *Server) DenyWhen(op string, when func(params map[string]string) bool) {
	s.deny(op, when)
	if !strings.HasPrefix(op, "dryrun:") {
		s.deny("dryrun:"+op, when)
	}
}

func (s *Server) deny(op string, when func(params map[string]string) bool) {
	action := strings.TrimPrefix(op, "dryrun:")
	var match func(fakecloud.Call) bool
	if when != nil {
		match = func(c fakecloud.Call) bool { return when(c.Params) }
	}
	b := make([]byte, 240)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail
	s.Inject(fakecloud.Fault{Op: op, When: match, Status: http.StatusForbidden, Code: "UnauthorizedOperation",
		Message: "You are not authorized to perform this operation. User: arn:aws:iam::" + s.cfg.Account + ":user/ci " +
			"is not authorized to perform: ec2:" + action + " on resource: arn:aws:ec2:*:" + s.cfg.Account + ":*" +
			" because no identity-based policy allows the ec2:" + action + " action. " +
			"Encoded authorization failure message: " + base64.RawURLEncoding.EncodeToString(b)})
}

func faultError(f *fakecloud.Fault) *apiError {
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	msg := f.Message
	if msg == "" {
		msg = "injected fault"
	}
	return &apiError{Status: status, Code: f.Code, Message: msg}
}

// ssmAction is what one SSM action takes: its request's fields and the
// ones it requires.
type ssmAction struct{ fields, required []string }

// ssmActions are the SSM actions the fake serves.
func ssmActions() map[string]ssmAction {
	return map[string]ssmAction{"GetParameter": {fields: []string{"Name", "WithDecryption"}, required: []string{"Name"}}}
}

// serveSSM answers the JSON 1.1 protocol for GetParameter.
func (s *Server) serveSSM(w http.ResponseWriter, r *http.Request, target string, body []byte) {
	writeErr := func(e *apiError) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(e.Status)
		json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message}) //nolint:errcheck // client gone
	}
	op, ok := strings.CutPrefix(target, "AmazonSSM.")
	if !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		writeErr(errf(http.StatusBadRequest, "UnknownOperationException", "unknown target %q", target))
		return
	}
	if f := s.Begin("ssm:"+op, nil); f != nil {
		writeErr(faultError(f))
		return
	}
	if _, e := s.authenticate(r); e != nil {
		if e.Code == "SignatureDoesNotMatch" {
			writeErr(errf(http.StatusBadRequest, "InvalidSignatureException", "%s", e.Message))
			return
		}
		if e.Code == "ExpiredToken" {
			writeErr(errf(http.StatusBadRequest, "ExpiredTokenException", "The security token included in the request is expired"))
			return
		}
		writeErr(errf(http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid."))
		return
	}
	a, ok := ssmActions()[op]
	if !ok {
		writeErr(errf(http.StatusBadRequest, "UnknownOperationException", "operation %s is not supported by the fake", op))
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(errf(http.StatusBadRequest, "SerializationException", "%v", err))
		return
	}
	for _, k := range sortedKeys(in) {
		if !slices.Contains(a.fields, k) {
			writeErr(errf(http.StatusBadRequest, "SerializationException", "unknown field %s", k))
			return
		}
	}
	for _, k := range a.required {
		if v, _ := in[k].(string); v == "" {
			// JSON's member names start lower case in SSM's messages.
			writeErr(errf(http.StatusBadRequest, "ValidationException",
				"1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", strings.ToLower(k[:1])+k[1:]))
			return
		}
	}
	name, _ := in["Name"].(string)
	val, ok := s.ssm.Get(name)
	if !ok {
		writeErr(errf(http.StatusBadRequest, "ParameterNotFound", "Parameter %s not found.", name))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{ //nolint:errcheck // client gone
		"Name": name, "Type": "String", "Value": val, "Version": 1, "DataType": "aws:ec2:image",
		"ARN": "arn:aws:ssm:us-east-1::parameter" + name, "LastModifiedDate": 1767225600,
	}})
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
