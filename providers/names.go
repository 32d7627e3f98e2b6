package providers

import "regexp"

// The forms of names the configuration and the adapters both check. One
// definition each, so an input accepted at load time is never refused by
// the adapter that reads it, nor the other way round.
var (
	userNameForm     = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	providerNameForm = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
)

// ValidUserName reports whether s is a Unix user name as useradd accepts
// it by default, at most 32 characters: lowercase letters, digits, _ and -,
// not starting with a digit or -. Such a name is safe in a command line
// unquoted and is never read as a uid or an option (sudo -u, useradd).
func ValidUserName(s string) bool { return userNameForm.MatchString(s) }

// ValidName reports whether s has the form of a provider name: lowercase
// letters, digits and -, starting with a letter, at most 32 characters.
func ValidName(s string) bool { return providerNameForm.MatchString(s) }
