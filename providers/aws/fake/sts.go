package fake

import (
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

const stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"

func writeSTSError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.Status)
	d := newXML("ErrorResponse", stsNS)
	d.open("Error").el("Type", "Sender").el("Code", e.Code).el("Message", e.Message).close().el("RequestId", requestID())
	io.WriteString(w, d.String()) //nolint:errcheck // client gone
}

// stsAction is what one STS action takes: the parameters it knows and the
// ones it requires. STS has no DryRun.
type stsAction struct{ allowed, required []string }

// stsActions are the STS actions the fake serves.
func stsActions() map[string]stsAction {
	return map[string]stsAction{
		"GetCallerIdentity": {},
		"AssumeRoleWithWebIdentity": {
			allowed:  []string{"RoleArn", "RoleSessionName", "WebIdentityToken", "DurationSeconds", "Policy", "PolicyArns.member.N.arn", "ProviderId"},
			required: []string{"RoleArn", "RoleSessionName", "WebIdentityToken"},
		},
	}
}

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request, p params) {
	action := p.get("Action")
	if f := s.Begin("sts:"+action, p.flat()); f != nil {
		writeSTSError(w, faultError(f))
		return
	}
	a, ok := stsActions()[action]
	if !ok {
		writeSTSError(w, errf(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version 2011-06-15", action))
		return
	}
	if e := p.check(a.allowed, a.required); e != nil {
		writeSTSError(w, e)
		return
	}
	switch action {
	case "GetCallerIdentity":
		c, e := s.authenticate(r)
		if e != nil && (e.Code == "SignatureDoesNotMatch" || e.Code == "ExpiredToken") {
			writeSTSError(w, e)
			return
		}
		if e != nil {
			writeSTSError(w, errf(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."))
			return
		}
		arn := "arn:aws:iam::" + s.cfg.Account + ":user/ci"
		if strings.HasPrefix(c.key, "ASIA") {
			arn = "arn:aws:sts::" + s.cfg.Account + ":assumed-role/mvm-verify/gha"
		}
		d := newXML("GetCallerIdentityResponse", stsNS)
		d.open("GetCallerIdentityResult").el("Arn", arn).el("UserId", c.key).el("Account", s.cfg.Account).close()
		d.open("ResponseMetadata").el("RequestId", requestID()).close()
		writeXML(w, d)
	case "AssumeRoleWithWebIdentity":
		if s.cfg.WebIdentityToken == "" || p.get("WebIdentityToken") != s.cfg.WebIdentityToken {
			writeSTSError(w, errf(http.StatusBadRequest, "InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider"))
			return
		}
		if p.get("RoleArn") != s.cfg.RoleARN {
			writeSTSError(w, errf(http.StatusForbidden, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity"))
			return
		}
		ttl := time.Hour
		if d := p.get("DurationSeconds"); d != "" {
			n, err := strconv.Atoi(d)
			if err != nil || n < 900 || n > 43200 {
				writeSTSError(w, errf(http.StatusBadRequest, "ValidationError",
					"1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", d))
				return
			}
			ttl = time.Duration(n) * time.Second
		}
		if s.cfg.SessionTTL > 0 {
			ttl = s.cfg.SessionTTL
		}
		id := "ASIA" + strings.ToUpper(s.NewID("")[5:])
		tok := "session-" + requestID()
		expires := time.Now().Add(ttl)
		s.mu.Lock()
		s.sessions[id] = session{token: tok, expires: expires}
		s.mu.Unlock()
		d := newXML("AssumeRoleWithWebIdentityResponse", stsNS)
		d.open("AssumeRoleWithWebIdentityResult")
		d.open("Credentials").el("AccessKeyId", id).el("SecretAccessKey", mintedSecret).el("SessionToken", tok).
			el("Expiration", expires.UTC().Format(time.RFC3339)).close()
		d.el("SubjectFromWebIdentityToken", "repo:tinylabscom/mvm:ref:refs/heads/main")
		d.open("AssumedRoleUser").el("Arn", "arn:aws:sts::"+s.cfg.Account+":assumed-role/mvm-verify/"+p.get("RoleSessionName")).
			el("AssumedRoleId", "AROAFAKE:"+p.get("RoleSessionName")).close()
		d.el("Provider", "token.actions.githubusercontent.com").el("Audience", "sts.amazonaws.com").close()
		d.open("ResponseMetadata").el("RequestId", requestID()).close()
		writeXML(w, d)
	}
}

// MintSession makes a role session as STS AssumeRole would for
// aws-actions/configure-aws-credentials, which exports it as AWS_* to
// the steps after: temporary credentials that last SessionTTL (default an
// hour) and that nothing renews.
func (s *Server) MintSession() (keyID, secret, token string) {
	ttl := s.cfg.SessionTTL
	if ttl <= 0 {
		ttl = time.Hour
	}
	keyID = "ASIA" + strings.ToUpper(s.NewID("")[5:])
	token = "session-" + requestID()
	s.mu.Lock()
	s.sessions[keyID] = session{token: token, expires: time.Now().Add(ttl)}
	s.mu.Unlock()
	return keyID, mintedSecret, token
}

// SessionTokens returns the session tokens AssumeRoleWithWebIdentity has
// minted, for tests to check they were masked: they are secrets the runner
// does not know.
func (s *Server) SessionTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess.token)
	}
	sort.Strings(out)
	return out
}
