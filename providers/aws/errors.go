package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tinylabscom/mvm-verify/providers"
)

// classOf maps an EC2/STS/SSM error code to what the candidate loop does.
func classOf(code string) (providers.Class, bool) {
	c, ok := map[string]providers.Class{
		"InsufficientInstanceCapacity":         providers.ClassCapacity,
		"InsufficientCapacity":                 providers.ClassCapacity,
		"InsufficientHostCapacity":             providers.ClassCapacity,
		"InsufficientReservedInstanceCapacity": providers.ClassCapacity,
		"InsufficientFreeAddressesInSubnet":    providers.ClassCapacity,
		"SpotMaxPriceTooLow":                   providers.ClassCapacity,
		"Unsupported":                          providers.ClassCapacity, // type not offered in this zone: another may have it

		"InstanceLimitExceeded":              providers.ClassQuota,
		"VcpuLimitExceeded":                  providers.ClassQuota,
		"MaxSpotInstanceCountExceeded":       providers.ClassQuota,
		"SecurityGroupLimitExceeded":         providers.ClassQuota,
		"VolumeLimitExceeded":                providers.ClassQuota,
		"RulesPerSecurityGroupLimitExceeded": providers.ClassQuota,

		"RequestLimitExceeded": providers.ClassTransient,
		"Throttling":           providers.ClassTransient,
		"ThrottlingException":  providers.ClassTransient,
		"InternalError":        providers.ClassTransient,
		"InternalFailure":      providers.ClassTransient,
		"ServiceUnavailable":   providers.ClassTransient,
		"Unavailable":          providers.ClassTransient,
		"IncorrectState":       providers.ClassTransient,

		"AuthFailure":                 providers.ClassAuth,
		"UnauthorizedOperation":       providers.ClassAuth,
		"InvalidClientTokenId":        providers.ClassAuth,
		"SignatureDoesNotMatch":       providers.ClassAuth,
		"ExpiredToken":                providers.ClassAuth,
		"ExpiredTokenException":       providers.ClassAuth,
		"RequestExpired":              providers.ClassAuth,
		"OptInRequired":               providers.ClassAuth,
		"Blocked":                     providers.ClassAuth,
		"AccessDenied":                providers.ClassAuth,
		"AccessDeniedException":       providers.ClassAuth,
		"InvalidIdentityToken":        providers.ClassAuth,
		"UnrecognizedClientException": providers.ClassAuth,
		"PendingVerification":         providers.ClassAuth,
	}[code]
	return c, ok
}

// classify wraps err, from doing what, with its class and code.
func classify(what string, err error) error {
	if err == nil {
		return nil
	}
	if providers.ClassOf(err) != providers.ClassUnknown {
		return fmt.Errorf("%s: %w", what, err)
	}
	var creds *credentialsError
	if errors.As(err, &creds) {
		if creds.none {
			return providers.Classified(providers.ClassAuth, "", creds)
		}
		// STS answering the role's exchange: its code says what it means
		// (AccessDenied, InvalidIdentityToken, a throttle).
		class, code := providers.ClassAuth, codeOf(creds.cause)
		if c, ok := classOf(code); ok {
			class = c
		} else if isServerError(creds.cause) {
			class = providers.ClassTransient
		}
		return providers.Classified(class, code, fmt.Errorf("%s: %w", what, creds))
	}
	wrapped := fmt.Errorf("%s: %w", what, err)
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		var expired *expiredError
		if errors.As(err, &expired) {
			wrapped = fmt.Errorf("%w (%s)", wrapped, expired.hint)
		}
		if c, ok := classOf(code); ok {
			return providers.Classified(c, code, wrapped)
		}
		if isServerError(err) {
			return providers.Classified(providers.ClassTransient, code, wrapped)
		}
		return providers.Classified(providers.ClassInvalid, code, wrapped)
	}
	if isServerError(err) {
		return providers.Classified(providers.ClassTransient, "", wrapped)
	}
	var maxAttempts *retry.MaxAttemptsError
	if errors.As(err, &maxAttempts) || strings.Contains(err.Error(), "retry quota exceeded") {
		return providers.Classified(providers.ClassTransient, "", wrapped)
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") || strings.Contains(err.Error(), "Needs AWS credentials") {
		return providers.Classified(providers.ClassAuth, "", wrapped)
	}
	return wrapped
}

// expiredSession follows an error saying the request expired when it was
// signed with session credentials nothing renews: what to change, since
// the likely cause is credentials made for an hour (the default of
// aws-actions/configure-aws-credentials with OIDC).
const expiredSession = "the AWS credentials expired: aws-role-to-assume renews its sessions, but session credentials " +
	"in AWS_* (as aws-actions/configure-aws-credentials exports them) cannot be renewed and last its role-duration-seconds, " +
	"by default 1 hour with OIDC (6 hours for a role assumed with an IAM user's keys), the post step included: " +
	"for runs near an hour use aws-role-to-assume or a longer role-duration-seconds"

// expiredOrClock follows it for other credentials: long-term keys do not
// expire, and a session the adapter renews was renewed and retried, so
// the likelier cause is this machine's clock.
const expiredOrClock = "the AWS credentials expired or this machine's clock is off: AWS refuses a request signed more than " +
	"5 minutes from its own time, so check the system clock (timedatectl) and the credentials"

func isServerError(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= http.StatusInternalServerError
}

// codeOf is the API error code in err's chain, "" when there is none.
func codeOf(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

func isNotFound(err error) bool {
	return strings.HasSuffix(codeOf(err), ".NotFound") || strings.HasSuffix(codeOf(err), "NotFound")
}

// Codes EC2 answers for an id it does not know.
const (
	groupNotFound    = "InvalidGroup.NotFound"
	instanceNotFound = "InvalidInstanceID.NotFound"
)

// untilKnown calls f again, a poll apart, while it answers code, the
// NotFound of an id this process just created or just saw listed. EC2's
// API is eventually consistent: a call that names a resource right after
// its create may not find it for a while, so such a NotFound is a wait,
// not a refusal. Only for our own ids: a NotFound for an id the user gave
// (subnet-id, an image) is their mistake and stays invalid (classify). Still
// unknown after inUseTries calls, the error is transient, so the candidate
// loop backs off and tries the same candidate again rather than stop or
// move on. Other errors, and nil, are f's as they are.
func (p *Provider) untilKnown(ctx context.Context, code string, f func() error) error {
	for try := 1; ; try++ {
		err := f()
		if err == nil || codeOf(err) != code {
			return err
		}
		if try >= inUseTries {
			return providers.Classified(providers.ClassTransient, code, fmt.Errorf("still unknown to EC2 after %d tries: %w", try, err))
		}
		if err := p.pause(ctx, p.poll); err != nil {
			return fmt.Errorf("wait until EC2 knows an id it just gave (%s): %w", code, err)
		}
	}
}
