package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tinylabscom/mvm-verify/providers"
)

// needsCredentials is the preflight message when neither credential source
// is configured, in the wording of the verification matrix's Notes column.
const needsCredentials = "Needs AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
	"(e.g. with aws-actions/configure-aws-credentials) or aws-role-to-assume"

// clients is one region's SDK clients.
type clients struct {
	ec2 *ec2.Client
	ssm *ssm.Client
	sts *sts.Client
}

// credentials picks the source: the role (GitHub OIDC → STS
// AssumeRoleWithWebIdentity) when aws-role-to-assume is set, else the
// AWS_* environment. It is built per process, so the post step mints fresh
// credentials instead of reusing ones the main step exported an hour ago.
func (p *Provider) credentials() (sdk.CredentialsProvider, error) {
	if p.role != "" {
		stsClient := sts.New(sts.Options{
			Region: p.region, BaseEndpoint: p.endpointPtr(), HTTPClient: p.httpClient(),
			Retryer: p.retryer()(), Credentials: sdk.AnonymousCredentials{},
		})
		tok := &githubToken{
			url: p.opts.Env("ACTIONS_ID_TOKEN_REQUEST_URL"), bearer: p.opts.Env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
			audience: p.audience, client: p.httpClient(),
		}
		if tok.url == "" || tok.bearer == "" {
			return nil, errors.New("aws-role-to-assume needs the GitHub OIDC token: give the job `permissions: id-token: write` " +
				"(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)")
		}
		wip := stscreds.NewWebIdentityRoleProvider(stsClient, p.role, tok, func(o *stscreds.WebIdentityRoleOptions) {
			o.RoleSessionName = "mvm-verify"
			o.Duration = time.Hour
		})
		return sdk.NewCredentialsCache(wip), nil
	}
	id, secret := p.opts.Env("AWS_ACCESS_KEY_ID"), p.opts.Env("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return nil, errors.New(needsCredentials)
	}
	return credentials.NewStaticCredentialsProvider(id, secret, p.opts.Env("AWS_SESSION_TOKEN")), nil
}

func (p *Provider) endpointPtr() *string {
	if p.endpoint == "" {
		return nil
	}
	return &p.endpoint
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
func (p *Provider) retryer() func() sdk.Retryer {
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
			if p.cfg.RetryBackoff != nil {
				b := p.cfg.RetryBackoff
				o.Backoff = retry.BackoffDelayerFunc(func(attempt int, _ error) (time.Duration, error) { return b(attempt), nil })
			}
		})
	}
}

// clientsFor builds the clients for one region. It calls no API.
func (p *Provider) clientsFor(region string) (*clients, error) {
	p.credOnce.Do(func() { p.creds, p.credErr = p.credentials() })
	if p.credErr != nil {
		return nil, providers.Classified(providers.ClassAuth, "", p.credErr)
	}
	cfg := sdk.Config{
		Region: region, Credentials: p.creds, HTTPClient: p.httpClient(),
		Retryer: p.retryer(), BaseEndpoint: p.endpointPtr(),
	}
	return &clients{ec2: ec2.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg), sts: sts.NewFromConfig(cfg)}, nil
}

// githubToken fetches the job's OIDC token from the Actions runtime.
type githubToken struct {
	url, bearer, audience string
	client                *http.Client
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
	return []byte(out.Value), nil
}
