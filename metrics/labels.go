package metrics

import "wxcas/audit"

// Label values for what is absent or unknown.
const (
	// LabelNone: the event has no channel or service (an API login has
	// no service; an operator's action no channel).
	LabelNone = "none"
	// LabelOther: a value outside the known set. Labels are bounded: a
	// value that is not a registered name is never a label.
	LabelOther = "other"
)

// channels are the known channel labels: audit's channels, and the login
// journey's two Official Account channels, which are counted as "oa" as the
// audit log does.
var channels = map[string]string{
	audit.ChannelQRInline:    audit.ChannelQRInline,
	audit.ChannelQRRedirect:  audit.ChannelQRRedirect,
	audit.ChannelOA:          audit.ChannelOA,
	"oa_base":                audit.ChannelOA,
	"oa_userinfo":            audit.ChannelOA,
	audit.ChannelMiniProgram: audit.ChannelMiniProgram,
	audit.ChannelMobileApp:   audit.ChannelMobileApp,
	audit.ChannelAPI:         audit.ChannelAPI,
}

func channelLabel(ch string) string {
	if ch == "" {
		return LabelNone
	}
	if l, ok := channels[ch]; ok {
		return l
	}
	return LabelOther
}

// KnownServices sets the service ids that may be labels: the registered
// CAS services, the OpenID clients' "oidc.<client_id>". Any other service
// is counted as "other". Call it once while wiring, before serving.
func (m *Metrics) KnownServices(ids []string) {
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	m.services.Store(&set)
}

func (m *Metrics) serviceLabel(id string) string {
	if id == "" {
		return LabelNone
	}
	if set := m.services.Load(); set != nil && (*set)[id] {
		return id
	}
	return LabelOther
}
