package main

import (
	"wxcas/cas"
	"wxcas/finish"
	"wxcas/journey"
)

// counted has the funnel count every result f issues (finish.Counted).
func (a *app) counted(f journey.Finisher) journey.Finisher {
	return finish.Counted{Next: f, Funnel: a.metrics}
}

// serviceIDs are the registered services' ids: the only service names the
// metrics label anything with.
func serviceIDs(services []cas.Service) []string {
	ids := make([]string, len(services))
	for i, s := range services {
		ids[i] = s.ID
	}
	return ids
}
