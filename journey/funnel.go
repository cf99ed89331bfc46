package journey

import (
	"errors"

	"wxcas/binding"
	"wxcas/login"
	"wxcas/metrics"
)

// AuditChannel is the audit log's name for a journey channel, which the
// metrics use too: the two Official Account channels are one, "oa".
func AuditChannel(channel string) string { return auditChannel(channel) }

// count tells the funnel (Deps.Funnel) that j took step.
func (e *Engine) count(step metrics.Step, j *Journey) {
	if e.d.Funnel != nil {
		e.d.Funnel.Step(step, auditChannel(j.Channel), j.Service)
	}
}

// codeAccepted reports whether a binding by SMS code got past the code:
// it bound, or it was refused for what came after the check (the phone's
// user, the directory's policy). A refusal of the code itself, or an
// internal error that says nothing either way, is not.
func codeAccepted(err error) bool {
	return err == nil || errors.Is(err, login.ErrUnknownPhone) ||
		errors.Is(err, binding.ErrUserBound) || errors.Is(err, binding.ErrPersonBound)
}
