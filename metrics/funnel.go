package metrics

// Step is one stage of a login, as the funnel counts it.
type Step string

// The steps, in the order a first login takes them. Each is counted at the
// one place where it happens (docs/metrics.md lists them).
const (
	// StepQRShown: the browser was shown WeChat's QR code (inline, or
	// WeChat's own QR page), or sent to an Official Account's
	// authorization inside WeChat. Every showing counts: a reload or a new
	// QR code too.
	StepQRShown Step = "qr_shown"
	// StepWeChatCallback: WeChat came back with a code (or with the
	// person's refusal): the browser's callback, or an app's code.
	StepWeChatCallback Step = "wechat_callback"
	// StepIdentifiedNew: WeChat named a person bound to nobody yet.
	StepIdentifiedNew Step = "identified_new"
	// StepIdentifiedReturning: WeChat named a person already bound.
	StepIdentifiedReturning Step = "identified_returning"
	// StepPhoneRequested: the person was asked for a phone number (a new
	// person, or one who chose to change the number).
	StepPhoneRequested Step = "phone_requested"
	// StepCodeSent: an SMS code went out (a resend counts again).
	StepCodeSent Step = "code_sent"
	// StepCodeVerified: the person typed the right SMS code.
	StepCodeVerified Step = "code_verified"
	// StepBound: the WeChat account was bound to the phone's user (by SMS
	// code, or by the phone number a mini program's WeChat vouches for).
	StepBound Step = "bound"
	// StepIssued: the finisher issued the login's result: a CAS service
	// ticket, the Apereo hand-off token, or the JSON API's session.
	StepIssued Step = "issued"
)

// Steps lists every step in funnel order.
var Steps = []Step{
	StepQRShown, StepWeChatCallback, StepIdentifiedNew, StepIdentifiedReturning, StepPhoneRequested,
	StepCodeSent, StepCodeVerified, StepBound, StepIssued,
}

// Funnel is told each step a login takes. channel is how the person came
// (audit.Channel*); service is the registered service id the login is for
// ("oidc.<client_id>" for an OpenID Connect client, "" for none).
// *Metrics counts the steps; NoFunnel ignores them.
type Funnel interface {
	Step(step Step, channel, service string)
}

// NoFunnel counts nothing: the funnel of code built without metrics.
type NoFunnel struct{}

// Step implements Funnel.
func (NoFunnel) Step(Step, string, string) {}

// Step counts one step of a login. Channels and services outside the known
// sets are counted as "other" (see labels.go), so a label never carries a
// URL or anything a person typed.
func (m *Metrics) Step(step Step, channel, service string) {
	m.funnel.WithLabelValues(string(step), channelLabel(channel), m.serviceLabel(service)).Inc()
}
