package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"

	"github.com/tinylabscom/mvm-verify/providers"
)

// needsCredentials is the preflight message when neither credential source
// is configured, in the wording of the verification matrix's Notes column.
const needsCredentials = "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
	"(e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume"

// credentialSources is the providers list's NEEDS column: where loadConfig
// looks, in brief.
const credentialSources = "AWS credentials as the AWS CLI finds them (AWS_ACCESS_KEY_ID…, AWS_PROFILE and the " +
	"shared config files, web identity, instance profile) or aws-role-to-assume"

// clients is one region's SDK clients.
type clients struct {
	ec2 *ec2.Client
	ssm *ssm.Client
	sts *sts.Client
}

// loadConfig builds the SDK configuration the way the AWS CLI does
// (config.LoadDefaultConfig: AWS_* environment, AWS_PROFILE and the shared
// config and credentials files, AWS_WEB_IDENTITY_TOKEN_FILE, container and
// instance-profile credentials, AWS_ENDPOINT_URL_*), with this adapter's
// HTTP client, retryer, region and endpoint. Two sources come first:
// aws-role-to-assume (GitHub OIDC → STS AssumeRoleWithWebIdentity) and the
// access keys in Options.Getenv (what aws-actions/configure-aws-credentials
// exports). It is built per process, so the post step mints fresh
// credentials instead of reusing ones the main step got an hour ago. It
// calls no API.
func (p *Provider) loadConfig(ctx context.Context) (sdk.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(p.region),
		config.WithHTTPClient(p.sdkHTTPClient()),
		config.WithRetryer(p.retryer()),
		config.WithLogger(sdkLogger{p.opts.Log()}),
	}
	if p.endpoint != "" {
		opts = append(opts, config.WithBaseEndpoint(p.endpoint))
	}
	// The SDK reads the process environment; these settings choose where
	// credentials come from, so they follow Options.Getenv too (the same
	// environment in production, a test's own in tests).
	if v := p.opts.Env("AWS_PROFILE"); v != "" {
		opts = append(opts, config.WithSharedConfigProfile(v))
	}
	if v := p.opts.Env("AWS_CONFIG_FILE"); v != "" {
		opts = append(opts, config.WithSharedConfigFiles([]string{v}))
	}
	if v := p.opts.Env("AWS_SHARED_CREDENTIALS_FILE"); v != "" {
		opts = append(opts, config.WithSharedCredentialsFiles([]string{v}))
	}
	if strings.EqualFold(p.opts.Env("AWS_EC2_METADATA_DISABLED"), "true") {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	if id, secret := p.opts.Env("AWS_ACCESS_KEY_ID"), p.opts.Env("AWS_SECRET_ACCESS_KEY"); p.role == "" && id != "" && secret != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(id, secret, p.opts.Env("AWS_SESSION_TOKEN"))))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		// A profile that does not exist, a malformed shared file…: the
		// SDK's message names the file or profile.
		return sdk.Config{}, fmt.Errorf("load the AWS configuration: %w", err)
	}
	fallback := onlyInstanceProfile(cfg.Credentials)
	if p.role != "" {
		if cfg.Credentials, err = p.webIdentity(cfg); err != nil {
			return sdk.Config{}, err
		}
		fallback = false
	}
	p.creds = sdk.NewCredentialsCache(&maskedCredentials{inner: cfg.Credentials, mask: p.opts.MaskSecret, fallback: fallback,
		refreshable: &p.refreshable, session: &p.session})
	cfg.Credentials = p.creds
	cfg.APIOptions = append(cfg.APIOptions, p.hintExpired)
	return cfg, nil
}

// refreshMargin is how long before they expire the credentials cache
// replaces credentials that last life: a tenth of their life, at most a
// minute. A request is then never signed with credentials that run out
// on the way, or by AWS's clock a little ahead of ours.
func refreshMargin(life time.Duration) time.Duration {
	return max(0, min(time.Minute, life/10))
}

// expiredCredentials reports whether code is AWS saying the request's
// temporary credentials have expired: EC2 says RequestExpired (as for a
// request signed too long ago), STS ExpiredToken, JSON services such as
// SSM ExpiredTokenException.
func expiredCredentials(code string) bool {
	return code == "RequestExpired" || code == "ExpiredToken" || code == "ExpiredTokenException"
}

// hintExpired adds to every call a step, outside the retries, that marks
// an answer saying the request expired with what to check. Which hint
// depends on the credentials that signed it, known only here: EC2 also
// answers RequestExpired for a clock off beyond the allowed skew, whatever
// the credentials.
func (p *Provider) hintExpired(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("mvmExpiredHint",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if err != nil && expiredCredentials(codeOf(err)) {
				hint := expiredOrClock
				if p.session.Load() && !p.refreshable.Load() {
					hint = expiredSession
				}
				err = &expiredError{hint: hint, err: err}
			}
			return out, md, err
		}), middleware.After)
}

// expiredError is an answer saying the request or its credentials
// expired, with the hint classify adds to it.
type expiredError struct {
	hint string
	err  error
}

func (e *expiredError) Error() string { return e.err.Error() }
func (e *expiredError) Unwrap() error { return e.err }

// webIdentity is the role's credentials: the job's GitHub OIDC token
// exchanged at STS, which cfg reaches without credentials.
func (p *Provider) webIdentity(cfg sdk.Config) (sdk.CredentialsProvider, error) {
	tok := &githubToken{
		url: p.opts.Env("ACTIONS_ID_TOKEN_REQUEST_URL"), bearer: p.opts.Env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
		audience: p.audience, client: p.httpClient(), mask: p.opts.MaskSecret,
	}
	if tok.url == "" || tok.bearer == "" {
		return nil, errors.New("aws-role-to-assume needs the GitHub OIDC token: give the job `permissions: id-token: write` " +
			"(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)")
	}
	stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Credentials = sdk.AnonymousCredentials{}
		o.Retryer = p.newRetryer(false)()
	})
	return &oidcExchange{role: p.role, inner: stscreds.NewWebIdentityRoleProvider(stsClient, p.role, tok, func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = "mvm-verify"
		o.Duration = time.Hour
	})}, nil
}

// oidcExchange says what failed when STS refuses the job's GitHub OIDC
// token: the SDK's error names only the STS operation.
type oidcExchange struct {
	role  string
	inner sdk.CredentialsProvider
}

func (o *oidcExchange) Retrieve(ctx context.Context) (sdk.Credentials, error) {
	c, err := o.inner.Retrieve(ctx)
	if err == nil {
		return c, nil
	}
	what := "exchange the job's GitHub OIDC token for role " + o.role + " (sts AssumeRoleWithWebIdentity)"
	if codeOf(err) == "ExpiredTokenException" {
		// The token is fetched anew for every exchange, so a fresh one
		// read as expired points at the clocks.
		return c, fmt.Errorf("%s: STS finds the GitHub OIDC token expired (it is fetched fresh for each exchange: check the runner's clock): %w", what, err)
	}
	return c, fmt.Errorf("%s: %w", what, err)
}

// onlyInstanceProfile reports whether the SDK found no credentials but the
// instance profile, its last resort: then a failure to get them means no
// credentials were configured at all.
func onlyInstanceProfile(c sdk.CredentialsProvider) bool {
	src, ok := c.(sdk.CredentialProviderSource)
	return ok && slices.Contains(src.ProviderSources(), sdk.CredentialSourceIMDS)
}

// maskedCredentials hands every secret it retrieves to the mask (minted
// session credentials are not the runner's secrets, so it would print them)
// and turns a failure into a credentialsError.
// It also moves the expiry of credentials that expire refreshMargin
// earlier, so the cache over it mints new ones in time.
type maskedCredentials struct {
	inner       sdk.CredentialsProvider
	mask        func(string)
	fallback    bool
	refreshable *atomic.Bool
	session     *atomic.Bool
}

func (m *maskedCredentials) Retrieve(ctx context.Context) (sdk.Credentials, error) {
	c, err := m.inner.Retrieve(ctx)
	if err != nil {
		return c, &credentialsError{none: m.fallback, cause: err}
	}
	m.mask(c.SecretAccessKey)
	m.mask(c.SessionToken)
	if m.refreshable != nil {
		m.refreshable.Store(c.CanExpire)
	}
	if m.session != nil {
		m.session.Store(c.SessionToken != "")
	}
	if c.CanExpire {
		c.Expires = c.Expires.Add(-refreshMargin(time.Until(c.Expires)))
	}
	return c, nil
}

// credentialsError is a failure to get credentials. none means nothing was
// configured (only the instance profile was left to try, and it had none):
// it reads as the matrix's Notes do.
type credentialsError struct {
	none  bool
	cause error
}

func (e *credentialsError) Error() string {
	if e.none {
		return needsCredentials
	}
	return "get AWS credentials: " + e.cause.Error()
}

func (e *credentialsError) Unwrap() error { return e.cause }

// sdkHTTPClient is the SDK's HTTP client: the injected one, or the SDK's
// own buildable client, on which the instance metadata client sets its
// fail-fast timeouts (where there is no metadata service, asking it must
// not hold up the "no credentials" answer).
func (p *Provider) sdkHTTPClient() config.HTTPClient {
	if p.opts.HTTPClient != nil {
		return p.opts.HTTPClient
	}
	return awshttp.NewBuildableClient().WithTimeout(60 * time.Second)
}

func (p *Provider) httpClient() *http.Client {
	if p.opts.HTTPClient != nil {
		return p.opts.HTTPClient
	}
	return &http.Client{Timeout: 60 * time.Second}
}

// retryer is the SDK's standard retryer (throttling, 5xx, transport
// errors) with more attempts than the default 3, since a leg is one long
// job that should ride out a throttle; the backoff is injectable.
func (p *Provider) retryer() func() sdk.Retryer { return p.newRetryer(true) }

// newRetryer is retryer, with the rule that renews expired credentials
// (renew) or without it: the STS client that mints them must not have it,
// since its ExpiredTokenException is about the token it exchanges, and
// emptying the cache in the middle of its own refresh only repeats the
// same exchange.
func (p *Provider) newRetryer(renew bool) func() sdk.Retryer {
	return func() sdk.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 6
			// EC2 answers a lack of capacity with a 5xx, which the SDK would
			// retry in place; the zone and candidate loops handle it instead.
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) sdk.Ternary {
				if c, ok := classOf(codeOf(err)); ok && (c == providers.ClassCapacity || c == providers.ClassQuota) {
					return sdk.FalseTernary
				}
				return sdk.UnknownTernary
			})}, o.Retryables...)
			// Credentials that expire (a role's, minted through STS) are
			// replaced by the cache before they run out; should AWS still
			// find them expired (a request slow on the way, AWS's clock
			// ahead of ours), the cache is emptied and the call retried
			// with fresh ones. Credentials that do not expire as far as
			// the SDK knows (AWS_* from the environment) cannot be
			// replaced, so their refusal is final.
			// A failure to get credentials (the cache's refresh after the
			// rule emptied it: STS refusing the exchange) is not retried
			// by it: fresh credentials are what just failed.
			if renew {
				o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) sdk.Ternary {
					var creds *credentialsError
					if !expiredCredentials(codeOf(err)) || !p.refreshable.Load() || p.creds == nil || errors.As(err, &creds) {
						return sdk.UnknownTernary
					}
					p.creds.Invalidate()
					return sdk.TrueTernary
				})}, o.Retryables...)
			}
			if p.cfg.RetryBackoff != nil {
				b := p.cfg.RetryBackoff
				o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) { return b(attempt), nil })
			}
		})
	}
}

// clientsFor builds the clients for one region. It calls no API.
func (p *Provider) clientsFor(ctx context.Context, region string) (*clients, error) {
	// Loaded once per process; a cancelled first caller must not leave a
	// cancelled load behind for the teardown that follows it.
	p.cfgOnce.Do(func() { p.cfg0, p.cfgErr = p.loadConfig(context.WithoutCancel(ctx)) })
	if p.cfgErr != nil {
		return nil, providers.Classified(providers.ClassAuth, "", p.cfgErr)
	}
	cfg := p.cfg0.Copy()
	cfg.Region = region
	return &clients{ec2: ec2.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg)}, nil
}

// githubToken fetches the job's OIDC token from the Actions runtime.
type githubToken struct {
	url, bearer, audience string
	client                *http.Client
	mask                  func(string)
}

// GetIdentityToken implements stscreds.IdentityTokenRetriever.
func (g *githubToken) GetIdentityToken() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u, err := url.Parse(g.url)
	if err != nil {
		return nil, fmt.Errorf("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: %w", err)
	}
	q := u.Query()
	q.Set("audience", g.audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+g.bearer)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request the GitHub OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("read the GitHub OIDC token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The body may echo the request; keep it out of the error.
		return nil, fmt.Errorf("request the GitHub OIDC token: %s", resp.Status)
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
		return nil, errors.New("request the GitHub OIDC token: the answer holds no token")
	}
	g.mask(out.Value)
	return []byte(out.Value), nil
}

// sdkLogger takes the SDK's own log lines (its IMDSv1 fallback warning
// when there are no credentials, say) to our logger at debug level: at
// the default level they only came ahead of our clearer message.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	l.log.Debug("aws sdk: "+fmt.Sprintf(format, v...), "class", string(c))
}
