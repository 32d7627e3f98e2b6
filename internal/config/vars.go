package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Suite variables. "${NAME}" is replaced in bootstrap commands and upload
// destinations (cloud-init has no environment to carry them); steps get them
// as environment variables, so shell variables of their own are untouched.
const (
	VarRepo = "MVM_REPO" // input repository
	VarRef  = "MVM_REF"  // input ref: the commit under test
	VarUser = "MVM_USER" // the suite's user
)

// Vars are the values of the suite variables that come from inputs.
type Vars struct {
	Repo string
	Ref  string
}

// Expand returns a copy of the suite with the variables replaced. A variable
// the suite uses but that has no value is an *InputError naming the input
// that supplies it.
func (s *Suite) Expand(v Vars) (*Suite, error) {
	values := map[string]string{VarRepo: v.Repo, VarRef: v.Ref, VarUser: s.User}
	out := s.clone()

	var used []string
	expand := func(text string) string {
		for name, value := range values {
			ph := "${" + name + "}"
			if strings.Contains(text, ph) {
				used = append(used, name)
				text = strings.ReplaceAll(text, ph, value)
			}
		}
		return text
	}
	for i, c := range out.Bootstrap {
		out.Bootstrap[i] = expand(c)
	}
	for i := range out.Uploads {
		out.Uploads[i].Dst = expand(out.Uploads[i].Dst)
	}
	for _, missing := range []struct{ name, input, what string }{
		{VarRepo, "repository", "the git URL of the repository to check out"},
		{VarRef, "ref", "the commit to check out"},
	} {
		if values[missing.name] == "" && slices.Contains(used, missing.name) {
			return nil, &InputError{Input: missing.input,
				Expected: fmt.Sprintf("%s: suite %s uses ${%s}", missing.what, s.Name, missing.name)}
		}
	}

	for i := range out.Steps {
		env := map[string]string{}
		for name, value := range values {
			if value != "" {
				env[name] = value
			}
		}
		maps.Copy(env, out.Steps[i].Env)
		out.Steps[i].Env = env
	}
	return out, nil
}

func (s *Suite) clone() *Suite {
	c := *s
	c.Packages = slices.Clone(s.Packages)
	c.Bootstrap = slices.Clone(s.Bootstrap)
	c.Uploads = slices.Clone(s.Uploads)
	c.Steps = slices.Clone(s.Steps)
	for i := range c.Steps {
		c.Steps[i].Needs = slices.Clone(s.Steps[i].Needs)
		c.Steps[i].Env = maps.Clone(s.Steps[i].Env)
	}
	return &c
}
