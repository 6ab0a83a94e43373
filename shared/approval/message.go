package approval

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/relais-ci/relais/shared/core"
)

//go:embed templates/request.txt templates/request.html
var templates embed.FS

var (
	requestText = texttemplate.Must(texttemplate.ParseFS(templates, "templates/request.txt"))
	requestHTML = htmltemplate.Must(htmltemplate.ParseFS(templates, "templates/request.html"))
)

// requestData is what an approval request says.
type requestData struct {
	A                     core.Approval
	Author                string
	Required              int
	ForbidAuthor          bool
	Expires               string
	Recipient             string
	ApproveURL, RejectURL string
}

// message renders the approval request for one recipient ("" for no one in particular:
// no links). The HTML part escapes everything that comes from the revision or the
// declaration.
func (s *Service) message(a core.Approval, pol Policy, topic, to string) (core.Notification, error) {
	data := requestData{
		A: a, Author: strings.Join(pol.Authors, ", "), Required: pol.Required, ForbidAuthor: pol.ForbidAuthor,
		Expires: a.ExpiresAt.UTC().Format("Mon, 02 Jan 2006 15:04 MST"), Recipient: to,
	}
	attrs := map[string]string{"approvalId": a.ID}
	if to != "" && s.d.Links != nil {
		link := Link{ApprovalID: a.ID, Recipient: to, Expires: a.ExpiresAt.Truncate(time.Second)}
		link.Page = PageApprove
		data.ApproveURL = s.d.Links.URL(link)
		link.Page = PageReject
		data.RejectURL = s.d.Links.URL(link)
		attrs[AttrRecipient] = to
	}
	var text, html strings.Builder
	if err := requestText.Execute(&text, data); err != nil {
		return core.Notification{}, fmt.Errorf("render approval request %s: %w", a.ID, err)
	}
	if err := requestHTML.Execute(&html, data); err != nil {
		return core.Notification{}, fmt.Errorf("render approval request %s: %w", a.ID, err)
	}
	return core.Notification{
		Kind: core.NotifyApprovalRequested, PipelineName: a.PipelineName, ExecutionID: a.ExecutionID,
		StageName: a.StageName, ActionName: a.ActionName, Topic: topic,
		Subject: fmt.Sprintf("APPROVAL NEEDED: %s / %s / %s", a.PipelineName, a.StageName, a.ActionName),
		Text:    text.String(), HTML: html.String(), Attrs: attrs,
	}, nil
}
