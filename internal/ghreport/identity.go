package ghreport

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v93/github"
)

// Who may write the matrix comment. Anyone who can comment on the PR can
// post a comment starting with the marker; were it read as the matrix, its
// hidden state would be merged and, being older, it would even become the
// comment every leg writes to. So a marker comment counts only when its
// author is an account that reports for this repository:
//
//   - the token's own login. A leg learns it from the commit status it
//     posts (GitHub names the status's creator), which works for every
//     kind of token; the report job, which posts no status, asks GET /user,
//     which answers for personal access tokens only (installation tokens,
//     GITHUB_TOKEN and GitHub Apps', are refused). Either learns it too
//     from a comment it creates (GitHub names the author), so a report on
//     an App's token that finds no comment to write into counts the one it
//     creates. An updated comment says nothing about us: its author is
//     whoever created it, already trusted, not the token that edited it;
//   - the creators of the mvm-verify statuses on the head commit: the legs'
//     identity, which may differ from the report job's token (legs on
//     GITHUB_TOKEN, the report on a personal token). Posting a status takes
//     statuses: write, which outsiders do not have;
//   - with neither, github-actions[bot], the identity of GITHUB_TOKEN.
//
// Marker comments of anyone else are ignored: never merged, edited or
// deleted.
//
// A new report run on an App's token, whose legs posted no statuses, cannot
// know the previous run's comment is its own until it has created one: it
// then finds both and keeps the older (duplicates are resolved oldest-wins),
// so the PR still ends with one comment.
const actionsBot = "github-actions[bot]"

// noteOwnLogin records the login a status or comment this Reporter created
// was created by: the token's own identity. The trusted set is learned again
// with it on the next read.
func (r *Reporter) noteOwnLogin(login string) {
	if login == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ownLogin == "" {
		r.ownLogin = login
		r.trusted = nil // learn the set again, with the login in it
	}
}

// trustedAuthors is the set of logins whose marker comments count.
func (r *Reporter) trustedAuthors(ctx context.Context, head string) map[string]bool {
	r.mu.Lock()
	own, known := r.ownLogin, r.trusted
	r.mu.Unlock()
	if known != nil {
		return known
	}
	set := map[string]bool{}
	if own == "" {
		var user *github.User
		err := r.call(ctx, "get the token's user", func() (*github.Response, error) {
			var resp *github.Response
			var err error
			user, resp, err = r.gh.Users.Get(ctx, "")
			return resp, err
		})
		if err == nil {
			own = user.GetLogin()
		} else {
			r.log.Debug("the token's user is unknown (an installation token)", "error", err)
		}
	}
	if own != "" {
		set[own] = true
	}
	for _, login := range r.statusCreators(ctx, head) {
		set[login] = true
	}
	if len(set) == 0 {
		set[actionsBot] = true
	}
	r.mu.Lock()
	if r.ownLogin == "" && own != "" {
		r.ownLogin = own
	}
	// A comment created while the set was being learned noted its author
	// after the snapshot above; without it the set cached here would miss it.
	if r.ownLogin != "" {
		set[r.ownLogin] = true
	}
	r.trusted = set
	r.mu.Unlock()
	r.log.Debug("matrix comment authors", "logins", fmt.Sprint(keys(set)))
	return set
}

// statusCreators lists who created the mvm-verify statuses on sha (the
// first page, newest first, is enough: every leg posts several).
func (r *Reporter) statusCreators(ctx context.Context, sha string) []string {
	if sha == "" {
		return nil
	}
	var list []*github.RepoStatus
	err := r.call(ctx, "list statuses of "+sha[:min(7, len(sha))], func() (*github.Response, error) {
		var resp *github.Response
		var err error
		list, resp, err = r.gh.Repositories.ListStatuses(ctx, r.owner, r.name, sha, &github.ListOptions{PerPage: 100})
		return resp, err
	})
	if err != nil {
		r.log.Debug("status creators unknown", "error", err)
		return nil
	}
	var out []string
	for _, st := range list {
		if strings.HasPrefix(st.GetContext(), ContextPrefix) && st.GetCreator().GetLogin() != "" {
			out = append(out, st.GetCreator().GetLogin())
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
