package fake

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestEveryActionRefusesUnknownAndMissingParameters: the fake rejects
// what the real services reject, for every action it serves — the EC2
// handlers, the STS actions and SSM's — so a request the adapter shapes
// wrongly fails here as it would against AWS. The table is walked from
// the fake's own lists of actions (ec2Handlers, stsActions, ssmActions),
// so an action added to the fake is covered without a new row. For each:
// a parameter the action does not know is refused (EC2 and STS:
// UnknownParameter; SSM: SerializationException), each required parameter
// left out is refused naming it (MissingParameter; SSM:
// ValidationException), and with every required parameter present the
// request is refused for neither (whatever its dummy values earn it).
// STS has no DryRun: it is an unknown parameter there.
func TestEveryActionRefusesUnknownAndMissingParameters(t *testing.T) {
	s := New(Config{})
	defer s.Close()

	// form is a request of action with every parameter in names set (to a
	// dummy value) and extra.
	form := func(version, action string, names []string, extra ...string) url.Values {
		v := url.Values{"Action": {action}, "Version": {version}}
		for _, n := range names {
			v.Set(n, "x")
		}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	without := func(names []string, drop string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == drop })
	}
	// refused checks that the request was refused with code, its message
	// naming want; notRefused that it was refused for neither code.
	type answer struct {
		status        int
		code, message string
	}
	refused := func(t *testing.T, got answer, code, want string) {
		t.Helper()
		if got.status != http.StatusBadRequest || got.code != code || !strings.Contains(got.message, want) {
			t.Errorf("answer %d %s %q, want 400 %s naming %s", got.status, got.code, got.message, code, want)
		}
	}
	notRefused := func(t *testing.T, got answer, codes ...string) {
		t.Helper()
		if slices.Contains(codes, got.code) {
			t.Errorf("with every required parameter the answer is %s %q", got.code, got.message)
		}
	}

	t.Run("ec2", func(t *testing.T) {
		ask := func(t *testing.T, v url.Values) answer {
			status, body := post(t, s, auth, v)
			if status == http.StatusOK {
				return answer{status: status}
			}
			var e struct {
				Code    string `xml:"Errors>Error>Code"`
				Message string `xml:"Errors>Error>Message"`
			}
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("not an EC2 error: %v\n%s", err, body)
			}
			return answer{status, e.Code, e.Message}
		}
		handlers := ec2Handlers()
		if len(handlers) == 0 {
			t.Fatal("the fake serves no EC2 action")
		}
		for _, name := range sortedKeys(handlers) {
			h := handlers[name]
			required := slices.Clone(h.required)
			if h.either[0] != "" {
				required = append(required, h.either[0])
			}
			t.Run(name, func(t *testing.T) {
				refused(t, ask(t, form("2016-11-15", name, required, "Bogus", "1")), "UnknownParameter", "Bogus")
				for _, r := range h.required {
					refused(t, ask(t, form("2016-11-15", name, without(required, r))), "MissingParameter", r)
				}
				if a, b := h.either[0], h.either[1]; a != "" {
					refused(t, ask(t, form("2016-11-15", name, without(required, a))), "MissingParameter", member(b)+" or "+member(a))
				}
				notRefused(t, ask(t, form("2016-11-15", name, required)), "UnknownParameter", "MissingParameter")
				// Every EC2 action takes DryRun.
				notRefused(t, ask(t, form("2016-11-15", name, required, "DryRun", "true")), "UnknownParameter", "MissingParameter")
			})
		}
	})

	t.Run("sts", func(t *testing.T) {
		stsAuth := strings.Replace(auth, "/ec2/", "/sts/", 1)
		ask := func(t *testing.T, v url.Values) answer {
			status, body := post(t, s, stsAuth, v)
			if status == http.StatusOK {
				return answer{status: status}
			}
			var e struct {
				Code    string `xml:"Error>Code"`
				Message string `xml:"Error>Message"`
			}
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("not an STS error: %v\n%s", err, body)
			}
			return answer{status, e.Code, e.Message}
		}
		actions := stsActions()
		for _, want := range []string{"GetCallerIdentity", "AssumeRoleWithWebIdentity"} {
			if _, ok := actions[want]; !ok {
				t.Errorf("the fake does not serve sts:%s, which the adapter calls", want)
			}
		}
		for _, name := range sortedKeys(actions) {
			a := actions[name]
			t.Run(name, func(t *testing.T) {
				refused(t, ask(t, form("2011-06-15", name, a.required, "Bogus", "1")), "UnknownParameter", "Bogus")
				refused(t, ask(t, form("2011-06-15", name, a.required, "DryRun", "true")), "UnknownParameter", "DryRun")
				for _, r := range a.required {
					refused(t, ask(t, form("2011-06-15", name, without(a.required, r))), "MissingParameter", r)
				}
				notRefused(t, ask(t, form("2011-06-15", name, a.required)), "UnknownParameter", "MissingParameter")
			})
		}
	})

	t.Run("ssm", func(t *testing.T) {
		ask := func(t *testing.T, op string, in map[string]any) answer {
			body, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := http.NewRequest(http.MethodPost, s.URL, strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "AmazonSSM."+op)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			sign(t, req, body, strings.Replace(auth, "/ec2/", "/ssm/", 1))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == http.StatusOK {
				return answer{status: resp.StatusCode}
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("not an SSM error: %v\n%s", err, b)
			}
			return answer{resp.StatusCode, e.Type, e.Message}
		}
		fields := func(names []string, extra ...string) map[string]any {
			in := map[string]any{}
			for _, n := range append(names, extra...) {
				in[n] = "x"
			}
			return in
		}
		actions := ssmActions()
		if _, ok := actions["GetParameter"]; !ok {
			t.Error("the fake does not serve ssm:GetParameter, which the adapter calls")
		}
		for _, op := range sortedKeys(actions) {
			a := actions[op]
			t.Run(op, func(t *testing.T) {
				refused(t, ask(t, op, fields(a.required, "Bogus")), "SerializationException", "Bogus")
				for _, r := range a.required {
					refused(t, ask(t, op, fields(without(a.required, r))), "ValidationException", strings.ToLower(r[:1])+r[1:])
				}
				notRefused(t, ask(t, op, fields(a.required)), "SerializationException", "ValidationException")
			})
		}
	})
}
