package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"wxcas/otp"
)

// BudgetReader reads the global SMS budget; *otp.Service is one.
type BudgetReader interface {
	Budget(ctx context.Context) (otp.Budget, error)
}

// budgetReadTimeout bounds the database read a scrape makes.
const budgetReadTimeout = 2 * time.Second

// WatchSMSBudget reports the global SMS budget at every scrape, read from
// the database: its counter is shared by every instance and its window
// opens at the first send of a day, so only the database knows how much is
// left (a count kept here would see this instance's sends alone, and not
// when the window turns). The read is one primary-key SELECT per scrape.
func (m *Metrics) WatchSMSBudget(r BudgetReader) {
	m.Registry.MustRegister(budgetCollector{r: r})
}

var (
	budgetLimitDesc = prometheus.NewDesc("wxcas_sms_budget_limit",
		"The global daily SMS budget (otp global_day; 0: off).", nil, nil)
	budgetUsedDesc = prometheus.NewDesc("wxcas_sms_budget_used",
		"SMS codes counted against the global budget in the window open now (shared by every instance; absent when the database cannot be read).", nil, nil)
	budgetEndsDesc = prometheus.NewDesc("wxcas_sms_budget_window_end_timestamp_seconds",
		"When the budget's window open now ends (absent when none is open).", nil, nil)
)

type budgetCollector struct{ r BudgetReader }

func (c budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- budgetLimitDesc
	ch <- budgetUsedDesc
	ch <- budgetEndsDesc
}

// Collect always reports the limit; the use only when the read works, so
// that a database outage shows as a missing series (an alert), never as an
// empty budget, and never fails the whole scrape.
func (c budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), budgetReadTimeout)
	defer cancel()
	b, err := c.r.Budget(ctx)
	ch <- prometheus.MustNewConstMetric(budgetLimitDesc, prometheus.GaugeValue, float64(b.Max))
	if err != nil || b.Max <= 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(budgetUsedDesc, prometheus.GaugeValue, float64(b.Used))
	if !b.WindowEndsAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(budgetEndsDesc, prometheus.GaugeValue, float64(b.WindowEndsAt.Unix()))
	}
}
