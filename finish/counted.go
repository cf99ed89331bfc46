package finish

import (
	"net/http"

	"wxcas/journey"
	"wxcas/metrics"
)

// Counted tells Funnel of every result Next issues (metrics.StepIssued):
// the one place every transport's login ends, whichever finisher wiring
// chose. A finisher that fails issued nothing and counts nothing.
type Counted struct {
	Next   journey.Finisher
	Funnel metrics.Funnel
}

// Finish implements journey.Finisher.
func (f Counted) Finish(w http.ResponseWriter, r *http.Request, j *journey.Journey, p *journey.Person) error {
	if err := f.Next.Finish(w, r, j, p); err != nil {
		return err
	}
	f.Funnel.Step(metrics.StepIssued, journey.AuditChannel(j.Channel), j.Service)
	return nil
}
