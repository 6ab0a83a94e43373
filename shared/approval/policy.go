package approval

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/relais-ci/relais/shared/core"
	"github.com/relais-ci/relais/shared/webhook"
)

// Relais-specific configuration keys of Manual approval actions (CodePipeline has none of
// them; the pipeline registry lists them as optional). All are off by default.
const (
	// ConfigApprovalsRequired is how many different people must approve ("1" to "10",
	// default "1"); one rejection rejects.
	ConfigApprovalsRequired = "RelaisApprovalsRequired"
	// ConfigForbidAuthorApproval ("true"/"false", default "false") refuses an approval
	// from the revision's author; the author may still reject.
	ConfigForbidAuthorApproval = "RelaisForbidAuthorApproval"
	// ConfigRevisionAuthor names the revision's author (comma-separated identities, e.g.
	// "#{SourceVariables.AuthorEmail}" or an address) in addition to the author of the
	// GitHub push or pull request that triggered the execution.
	ConfigRevisionAuthor = "RelaisRevisionAuthor"
)

// MaxApprovalsRequired bounds ConfigApprovalsRequired.
const MaxApprovalsRequired = 10

// ErrNotAllowed is a decision the approval's policy refuses (the revision's author
// approving, someone deciding twice, an anonymous decision where names count). It also
// matches core.ErrInvalid.
var ErrNotAllowed = errors.New("decision not allowed")

// Policy is what an approval requires beyond one person's decision.
type Policy struct {
	// Required is the number of different people who must approve (at least 1).
	Required int
	// ForbidAuthor refuses approvals by one of Authors.
	ForbidAuthor bool
	// Authors are the revision's authors as far as Relais knows them.
	Authors []string
}

// policyOf reads an action's policy from its resolved configuration and the execution's
// trigger.
func policyOf(cfg map[string]string, trigger core.Trigger) (Policy, error) {
	p := Policy{Required: 1}
	if v := cfg[ConfigApprovalsRequired]; v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > MaxApprovalsRequired {
			return p, fmt.Errorf("%s is %q: want a number from 1 to %d", ConfigApprovalsRequired, v, MaxApprovalsRequired)
		}
		p.Required = n
	}
	switch v := strings.TrimSpace(cfg[ConfigForbidAuthorApproval]); v {
	case "", "false":
	case "true":
		p.ForbidAuthor = true
	default:
		return p, fmt.Errorf("%s is %q: want true or false", ConfigForbidAuthorApproval, v)
	}
	for _, a := range strings.Split(cfg[ConfigRevisionAuthor], ",") {
		if a = strings.TrimSpace(a); a != "" {
			p.Authors = append(p.Authors, a)
		}
	}
	if t, ok := webhook.ParseTriggerDetail(trigger); ok && t.Author != "" {
		p.Authors = append(p.Authors, t.Author)
	}
	return p, nil
}

// configured reports whether the policy asks for more than CodePipeline does.
func (p Policy) configured() bool { return p.Required > 1 || p.ForbidAuthor }

// IsAuthor reports whether who is one of the revision's authors: the same identity
// (case-insensitive), or an e-mail address whose local part is an author's user name
// (alice@example.com and the GitHub user alice; a GitHub noreply address
// 123+alice@users.noreply.github.com and alice). It errs on the side of "author": the
// option exists to keep people from approving their own change.
func (p Policy) IsAuthor(who string) bool {
	for _, a := range p.Authors {
		if sameIdentity(who, a) {
			return true
		}
	}
	return false
}

func sameIdentity(a, b string) bool {
	a, b = strings.ToLower(strings.TrimSpace(a)), strings.ToLower(strings.TrimSpace(b))
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	user := func(s string) string {
		local, _, ok := strings.Cut(s, "@")
		if !ok {
			return s
		}
		if _, login, ok := strings.Cut(local, "+"); ok {
			return login
		}
		return local
	}
	return user(a) == user(b)
}

// State is an approval as a decision-maker sees it: its record (Expired or Superseded
// once its action stopped waiting), its policy and the approvals it has so far.
type State struct {
	Approval core.Approval
	Policy   Policy
	// Votes are the approvals recorded so far when several are required (DecidedBy,
	// Comment, DecidedAt of each).
	Votes []core.Approval
}

// Pending reports whether the approval still waits for a decision.
func (st State) Pending() bool { return st.Approval.Status == core.ApprovalPending }

// Voted reports whether who has already approved toward a policy that requires several
// approvals.
func (st State) Voted(who string) bool {
	for _, v := range st.Votes {
		if strings.EqualFold(strings.TrimSpace(v.DecidedBy), strings.TrimSpace(who)) {
			return true
		}
	}
	return false
}

// Missing is the number of approvals still needed.
func (st State) Missing() int {
	if n := st.Policy.Required - len(st.Votes); n > 0 {
		return n
	}
	return 1
}

// MayApprove says why who may not approve, or nil.
func (st State) MayApprove(who string) error {
	switch {
	case strings.TrimSpace(who) == "" && st.Policy.configured():
		return fmt.Errorf("approval %s needs the approver's name: %w", st.Approval.ID, errNotAllowed)
	case st.Policy.ForbidAuthor && st.Policy.IsAuthor(who):
		return fmt.Errorf("%s is an author of the revision and may not approve it: %w", who, errNotAllowed)
	case st.Voted(who):
		return fmt.Errorf("%s has already approved %s: %w", who, st.Approval.ID, errNotAllowed)
	}
	return nil
}

// errNotAllowed matches both ErrNotAllowed and core.ErrInvalid (callers that map
// sentinels, like the API, answer it as a validation error).
var errNotAllowed = fmt.Errorf("%w (%w)", ErrNotAllowed, core.ErrInvalid)
