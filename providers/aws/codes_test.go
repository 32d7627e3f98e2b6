package aws_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tinylabscom/mvm-verify/providers"
	"github.com/tinylabscom/mvm-verify/providers/fakecloud"
)

// errorCodeClasses is what the candidate loop must do with each error code
// EC2, STS and SSM answer, written out here rather than read from the
// adapter, so a changed mapping fails TestEveryErrorCodeHasItsClass.
var errorCodeClasses = map[string]providers.Class{
	// Another zone or type may have room.
	"InsufficientInstanceCapacity":         providers.ClassCapacity,
	"InsufficientCapacity":                 providers.ClassCapacity,
	"InsufficientHostCapacity":             providers.ClassCapacity,
	"InsufficientReservedInstanceCapacity": providers.ClassCapacity,
	"InsufficientFreeAddressesInSubnet":    providers.ClassCapacity,
	"SpotMaxPriceTooLow":                   providers.ClassCapacity,
	"Unsupported":                          providers.ClassCapacity, // the type is not offered in this zone

	// The account's limits: the next candidate may need less of them.
	"InstanceLimitExceeded":              providers.ClassQuota,
	"VcpuLimitExceeded":                  providers.ClassQuota,
	"MaxSpotInstanceCountExceeded":       providers.ClassQuota,
	"SecurityGroupLimitExceeded":         providers.ClassQuota,
	"VolumeLimitExceeded":                providers.ClassQuota,
	"RulesPerSecurityGroupLimitExceeded": providers.ClassQuota,

	// Try the same again after a while.
	"RequestLimitExceeded": providers.ClassTransient,
	"Throttling":           providers.ClassTransient,
	"ThrottlingException":  providers.ClassTransient,
	"InternalError":        providers.ClassTransient,
	"InternalFailure":      providers.ClassTransient,
	"ServiceUnavailable":   providers.ClassTransient,
	"Unavailable":          providers.ClassTransient,
	"IncorrectState":       providers.ClassTransient,

	// Nothing another candidate changes: stop and say so.
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
}

// TestEveryErrorCodeHasItsClass: every code the adapter maps, answered by
// the fake on every RunInstances through the real SDK, comes out of Create
// with its class and code; a code the adapter does not know is transient
// with a 5xx status and invalid otherwise.
func TestEveryErrorCodeHasItsClass(t *testing.T) {
	type row struct {
		code   string
		status int
		class  providers.Class
	}
	var rows []row
	for code, class := range errorCodeClasses {
		status := http.StatusBadRequest
		switch class {
		case providers.ClassCapacity, providers.ClassTransient:
			status = http.StatusServiceUnavailable
		case providers.ClassAuth:
			status = http.StatusForbidden
		}
		rows = append(rows, row{code, status, class})
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.code, b.code) })
	rows = append(rows,
		row{"SomethingNewAndBroken", http.StatusInternalServerError, providers.ClassTransient},
		row{"SomethingNewAndBroken", http.StatusBadGateway, providers.ClassTransient},
		row{"SomethingNewAndRefused", http.StatusBadRequest, providers.ClassInvalid},
		// A NotFound's class depends on whose id it is, so classOf does not
		// map these codes and they are not in errorCodeClasses. For an id
		// the user gave (the subnet-id input, the image) it is a mistake:
		// invalid, at once. For the run's own security group, which
		// RunInstances names a moment after creating it, it is EC2's
		// eventual consistency: the launch is retried a poll apart, and a
		// group still unknown after that is transient, so the candidate
		// loop backs off on the same candidate (TestOwnIDStillUnknownIsTransient).
		row{"InvalidSubnetID.NotFound", http.StatusBadRequest, providers.ClassInvalid},
		row{"InvalidAMIID.NotFound", http.StatusBadRequest, providers.ClassInvalid},
		row{"InvalidGroup.NotFound", http.StatusBadRequest, providers.ClassTransient})
	for _, r := range rows {
		t.Run(r.code+"/"+strconv.Itoa(r.status), func(t *testing.T) {
			srv := newFake(t, idleBooter)
			srv.Inject(fakecloud.Fault{Op: "RunInstances", Status: r.status, Code: r.code, Message: "injected " + r.code})
			p := newProvider(t, srv, nil)
			_, err := p.Create(context.Background(), request(identity("aws")), nil)
			if err == nil {
				t.Fatal("create succeeded under the fault")
			}
			if got := providers.ClassOf(err); got != r.class {
				t.Errorf("class = %s, want %s: %v", got, r.class, err)
			}
			if a := providers.FailedAttempt(providers.Candidate{}, err, 0); a.Code != r.code || !strings.Contains(a.Error, "injected "+r.code) {
				t.Errorf("attempt = %+v, want code %s with EC2's message", a, r.code)
			}
		})
	}
}

// TestErrorCodeTableIsComplete: the table above names every code the
// adapter's classOf maps, so a code added there needs a row here.
func TestErrorCodeTableIsComplete(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var mapped []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "classOf" {
			continue
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if kv, ok := n.(*ast.KeyValueExpr); ok {
				if lit, ok := kv.Key.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					code, _ := strconv.Unquote(lit.Value)
					mapped = append(mapped, code)
				}
			}
			return true
		})
	}
	if len(mapped) == 0 {
		t.Fatal("found no codes in classOf (errors.go): has it moved?")
	}
	for _, code := range mapped {
		if _, ok := errorCodeClasses[code]; !ok {
			t.Errorf("classOf maps %s, which errorCodeClasses has no row for", code)
		}
	}
	for code := range errorCodeClasses {
		if !slices.Contains(mapped, code) {
			t.Errorf("errorCodeClasses has %s, which classOf does not map", code)
		}
	}
}

// TestUnsupportedZoneTriesTheNext: EC2 answers Unsupported for a type its
// zone does not offer; another zone may, so it is treated like a lack of
// capacity there rather than a refusal of the request.
func TestUnsupportedZoneTriesTheNext(t *testing.T) {
	t.Run("candidates name zones", func(t *testing.T) {
		srv := newFake(t, idleBooter)
		srv.Unoffer("us-east-1a", "c8i.large")
		p := newProvider(t, srv, nil)
		id := identity("aws")
		cands := []providers.Candidate{{Zone: "us-east-1a"}, {Zone: "us-east-1b"}}
		h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), cands, nil, providers.FallbackOptions{Sleep: noSleep})
		if err != nil {
			t.Fatalf("create: %v (attempts %+v)", err, attempts)
		}
		if len(attempts) != 2 || attempts[0].Class != providers.ClassCapacity || attempts[0].Code != "Unsupported" ||
			!attempts[0].CleanedUp || !attempts[1].OK || h.Zone != "us-east-1b" {
			t.Fatalf("host in %s, attempts %+v: want Unsupported in us-east-1a cleaned up, then us-east-1b", h.Zone, attempts)
		}
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
	t.Run("zone-less candidate", func(t *testing.T) {
		// The offerings listed us-east-1a (they lag behind, or EC2 withdrew
		// the type since), so the launch there is tried and refused.
		srv := newFake(t, idleBooter)
		srv.Inject(fakecloud.Fault{Op: "RunInstances", Times: 1, Status: 400, Code: "Unsupported",
			Message: "Your requested instance type (c8i.large) is not supported in your requested Availability Zone (us-east-1a)."})
		p := newProvider(t, srv, nil)
		id := identity("aws")
		h, attempts, err := providers.CreateWithFallback(context.Background(), p, request(id), []providers.Candidate{{}}, nil,
			providers.FallbackOptions{Sleep: noSleep})
		if err != nil {
			t.Fatalf("create: %v (attempts %+v)", err, attempts)
		}
		if h.Zone != "us-east-1b" || count(srv.Ops(), "RunInstances") != 2 || len(attempts) != 2 ||
			attempts[0].Code != "Unsupported" || attempts[0].Candidate.Zone != "us-east-1a" {
			t.Errorf("host in %s, attempts %+v, ops %v: want us-east-1a refused, then us-east-1b", h.Zone, attempts, srv.Ops())
		}
		if _, err := p.Destroy(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		assertNothingLeft(t, srv, p, id)
	})
}
