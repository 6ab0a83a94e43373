// Package snsnotify delivers Relais notifications (approval requests, execution outcomes)
// by publishing them to Amazon SNS topics: the topic a declaration names (an approval
// action's NotificationArn) or a default topic, whose subscribers receive them by
// email, SMS, HTTPS or a queue.
//
// SNS's rules shape the message: the subject is printable ASCII without line breaks and
// under 100 characters (email subscribers see it as the mail's subject); the body is
// plain UTF-8 text of at most 256 KiB; attributes (which subscription filter policies
// match) have non-empty names and values, ten at most, so that queue subscribers accept
// them. A notification's HTML is not sent: SNS email subscriptions deliver plain text.
// The Notifier needs sns:Publish on the topics.
package snsnotify

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/relais-ci/relais/shared/core"
)

var _ core.Notifier = (*Notifier)(nil)

// Client is the part of *sns.Client the Notifier calls.
type Client interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Notifier publishes notifications to SNS. It is safe for concurrent use.
type Notifier struct {
	client       Client
	defaultTopic string
}

// New returns a Notifier that publishes to a notification's own topic, or to
// defaultTopic (an SNS topic ARN; "" for none) when it names none.
func New(client Client, defaultTopic string) *Notifier {
	return &Notifier{client: client, defaultTopic: defaultTopic}
}

// SNS limits.
const (
	maxSubject    = 99 // "less than 100 characters"
	maxMessage    = 256 << 10
	maxAttributes = 10
)

// Attribute names Relais sets on every message.
const (
	AttrKind      = "kind"
	AttrPipeline  = "pipeline"
	AttrExecution = "execution"
)

// Notify publishes n; see core.Notifier. ErrUnavailable when n names no topic and no
// default is configured; ErrNotFound when the topic does not exist.
func (s *Notifier) Notify(ctx context.Context, n core.Notification) error {
	topic := n.Topic
	if topic == "" {
		topic = s.defaultTopic
	}
	if topic == "" {
		return fmt.Errorf("notify %s of %s: no topic: %w", n.Kind, n.PipelineName, core.ErrUnavailable)
	}
	attrs := attributes(n)
	_, err := s.client.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(topic),
		Subject:           aws.String(Subject(n.Subject)),
		Message:           aws.String(body(n, maxMessage-attrSize(attrs))),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("notify %s of %s to %s: %w", n.Kind, n.PipelineName, topic, mapErr(err))
	}
	return nil
}

var (
	controls = regexp.MustCompile(`[\x00-\x1f\x7f]+`)
	spaces   = regexp.MustCompile(` {2,}`)
)

// Subject returns s as an SNS subject: non-ASCII characters become '?', line breaks and
// other control characters a space, it starts with a visible character, and it is cut
// (with "...") to 99 characters. An empty subject becomes "Relais notification".
func Subject(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= utf8.RuneSelf {
			return '?'
		}
		return r
	}, s)
	s = strings.TrimSpace(spaces.ReplaceAllString(controls.ReplaceAllString(s, " "), " "))
	if s == "" {
		return "Relais notification"
	}
	if len(s) > maxSubject {
		s = strings.TrimRight(s[:maxSubject-3], " ") + "..."
	}
	return s
}

// body returns the plain-text message: the notification's text, then what it is about,
// cut to limit bytes on a character boundary.
func body(n core.Notification, limit int) string {
	var b strings.Builder
	text := strings.TrimRight(n.Text, "\n")
	if text == "" {
		text = n.Subject
	}
	b.WriteString(text)
	b.WriteString("\n\n")
	for _, line := range [][2]string{
		{"Pipeline", n.PipelineName}, {"Execution", n.ExecutionID}, {"Stage", n.StageName}, {"Action", n.ActionName},
	} {
		if line[1] != "" {
			fmt.Fprintf(&b, "%s: %s\n", line[0], line[1])
		}
	}
	msg := b.String()
	if len(msg) > limit {
		const cut = "\n[truncated]"
		msg = msg[:limit-len(cut)]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
		msg += cut
	}
	return msg
}

// attrNameRE is what SNS accepts as an attribute name (and "AWS."/"Amazon." prefixes are
// reserved).
var attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,255}$`)

// attributes returns the message attributes: kind, pipeline and execution, then n.Attrs
// in name order, as strings; empty values, invalid names and those past the tenth are
// left out.
func attributes(n core.Notification) map[string]types.MessageAttributeValue {
	attrs := map[string]types.MessageAttributeValue{}
	add := func(name, value string) {
		if value == "" || len(attrs) >= maxAttributes || !attrNameRE.MatchString(name) || strings.Contains(name, "..") ||
			strings.HasPrefix(name, "AWS.") || strings.HasPrefix(name, "Amazon.") {
			return
		}
		if _, ok := attrs[name]; ok {
			return
		}
		attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(value)}
	}
	add(AttrKind, n.Kind)
	add(AttrPipeline, n.PipelineName)
	add(AttrExecution, n.ExecutionID)
	for _, name := range slices.Sorted(maps.Keys(n.Attrs)) {
		add(name, n.Attrs[name])
	}
	return attrs
}

// attrSize is what the attributes count against the message size.
func attrSize(attrs map[string]types.MessageAttributeValue) int {
	n := 0
	for name, v := range attrs {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue))
	}
	return n
}

// mapErr maps SNS errors to core sentinels, keeping the SDK error in the chain.
func mapErr(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	case "NotFound":
		return fmt.Errorf("%w: %w", core.ErrNotFound, err)
	case "InvalidParameter", "InvalidParameterValue", "ValidationException":
		return fmt.Errorf("%w: %w", core.ErrInvalid, err)
	}
	return err
}
