package web

import (
	"wxcas/journey"
	"wxcas/metrics"
)

// shown counts a QR code shown, or a trip to an Official Account's
// authorization, for journey j on channel (LoginOptions.Funnel).
func (h *Login) shown(j *journey.Journey, channel string) {
	if h.o.Funnel != nil {
		h.o.Funnel.Step(metrics.StepQRShown, journey.AuditChannel(channel), j.Service)
	}
}
