package ghreport

import "github.com/tinylabscom/mvm-verify/internal/badinput"

// InputError is a refused input of the reporting (github-repository,
// github-api-url, matrix-file): badinput.Error, the shape every refused
// input has, so a user sees one whoever refused the value, and
// internal/cli exits 2 on it. ghreport may not import providers (DESIGN §3),
// whose InputError is the same type.
type InputError = badinput.Error
