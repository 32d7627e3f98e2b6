package testhost

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// cloudConfig is the part of a #cloud-config that decides who can log in
// over SSH and with which host key.
type cloudConfig struct {
	Users             []yaml.Node `yaml:"users"`
	DisableRoot       *bool       `yaml:"disable_root"`
	SSHAuthorizedKeys []string    `yaml:"ssh_authorized_keys"`
	SSHKeys           struct {
		Ed25519Private string `yaml:"ed25519_private"`
		Ed25519Public  string `yaml:"ed25519_public"`
	} `yaml:"ssh_keys"`
	WriteFiles []struct {
		Path     string `yaml:"path"`
		Content  string `yaml:"content"`
		Encoding string `yaml:"encoding"`
	} `yaml:"write_files"`
}

type cloudUser struct {
	Name              string    `yaml:"name"`
	Groups            yaml.Node `yaml:"groups"`
	Sudo              yaml.Node `yaml:"sudo"`
	SSHAuthorizedKeys []string  `yaml:"ssh_authorized_keys"`
}

// OptionsFromUserData reads a #cloud-config as cloud-init would for what
// matters to SSH: the users (name, groups, sudo, ssh_authorized_keys),
// root's keys (top-level ssh_authorized_keys when disable_root is false, or
// a write_files entry for /root/.ssh/authorized_keys) and ssh_keys'
// ed25519 host key. Everything else is ignored. Errors never quote the
// user data, which holds a private key.
func OptionsFromUserData(userData []byte) (Options, error) {
	if !bytes.HasPrefix(bytes.TrimLeft(userData, " \t\r\n"), []byte("#cloud-config")) {
		return Options{}, fmt.Errorf("user data: expected a #cloud-config document (first line \"#cloud-config\")")
	}
	var cc cloudConfig
	if err := yaml.Unmarshal(userData, &cc); err != nil {
		return Options{}, fmt.Errorf("user data: not valid YAML: %s", yamlLine(err))
	}
	var opts Options
	if cc.SSHKeys.Ed25519Private != "" {
		opts.HostKeyPEM = []byte(cc.SSHKeys.Ed25519Private)
	}

	index := map[string]int{}
	add := func(u User) {
		if i, ok := index[u.Name]; ok {
			opts.Users[i].AuthorizedKeys = append(opts.Users[i].AuthorizedKeys, u.AuthorizedKeys...)
			return
		}
		index[u.Name] = len(opts.Users)
		opts.Users = append(opts.Users, u)
	}
	for i, n := range cc.Users {
		// "default" (a bare string) names the image's default user, which
		// a test host does not have.
		if n.Kind == yaml.ScalarNode {
			continue
		}
		var cu cloudUser
		if err := n.Decode(&cu); err != nil {
			return Options{}, fmt.Errorf("user data: users[%d]: %s", i, yamlLine(err))
		}
		if cu.Name == "" {
			return Options{}, fmt.Errorf("user data: users[%d]: no name", i)
		}
		groups, err := stringList(&cu.Groups)
		if err != nil {
			return Options{}, fmt.Errorf("user data: users[%d] (%s) groups: %w", i, cu.Name, err)
		}
		sudo, err := sudoRules(&cu.Sudo)
		if err != nil {
			return Options{}, fmt.Errorf("user data: users[%d] (%s) sudo: %w", i, cu.Name, err)
		}
		add(User{Name: cu.Name, AuthorizedKeys: cu.SSHAuthorizedKeys, Groups: groups, Sudo: sudo})
	}

	var rootKeys []string
	if cc.DisableRoot != nil && !*cc.DisableRoot {
		rootKeys = append(rootKeys, cc.SSHAuthorizedKeys...)
	}
	for i, f := range cc.WriteFiles {
		if f.Path != "/root/.ssh/authorized_keys" {
			continue
		}
		content := f.Content
		switch strings.ToLower(f.Encoding) {
		case "", "text/plain":
		case "b64", "base64":
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(content))
			if err != nil {
				return Options{}, fmt.Errorf("user data: write_files[%d] (%s): content is not base64: %w", i, f.Path, err)
			}
			content = string(b)
		default:
			return Options{}, fmt.Errorf("user data: write_files[%d] (%s) encoding %q: expected none, b64 or base64", i, f.Path, f.Encoding)
		}
		for _, line := range strings.Split(content, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				rootKeys = append(rootKeys, line)
			}
		}
	}
	if len(rootKeys) > 0 {
		add(User{Name: "root", AuthorizedKeys: rootKeys})
	}
	return opts, nil
}

// stringList reads cloud-init's "a, b" or [a, b] forms.
func stringList(n *yaml.Node) ([]string, error) {
	var out []string
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		for _, g := range strings.Split(n.Value, ",") {
			if g = strings.TrimSpace(g); g != "" {
				out = append(out, g)
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: expected a list of names", c.Line)
			}
			out = append(out, c.Value)
		}
	default:
		return nil, fmt.Errorf("line %d: expected \"a, b\" or a list of names", n.Line)
	}
	return out, nil
}

// sudoRules reports whether cloud-init would write sudo rules for the user:
// a rule string or a list of them, while false or null mean none.
func sudoRules(n *yaml.Node) (bool, error) {
	switch n.Kind {
	case 0:
		return false, nil
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return false, nil
		case "!!bool":
			return n.Value == "true", nil
		}
		return strings.TrimSpace(n.Value) != "", nil
	case yaml.SequenceNode:
		return len(n.Content) > 0, nil
	}
	return false, fmt.Errorf("line %d: expected a sudo rule, a list of rules or false", n.Line)
}

// yamlLine keeps the YAML error's position but not the document text it may
// quote.
func yamlLine(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		end := strings.IndexByte(msg[i:], ':')
		if end > 0 {
			return "invalid YAML at " + msg[i:i+end]
		}
	}
	return "invalid YAML"
}
