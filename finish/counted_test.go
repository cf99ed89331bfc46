package finish_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/finish"
	"wxcas/journey"
	"wxcas/metrics"
)

type steps []string

func (s *steps) Step(step metrics.Step, channel, service string) {
	*s = append(*s, string(step)+" "+channel+" "+service)
}

func TestCountedCountsWhatWasIssued(t *testing.T) {
	tests := []struct {
		name    string
		channel string
		err     error
		want    []string
	}{
		{"a ticket issued", journey.ChannelQRInline, nil, []string{"issued qr_inline site"}},
		{"the Official Account channels are oa", journey.ChannelOAUserinfo, nil, []string{"issued oa site"}},
		{"a finisher that failed issued nothing", journey.ChannelQRInline, errors.New("session not stored"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got steps
			f := finish.Counted{Funnel: &got, Next: journey.FinisherFunc(func(http.ResponseWriter, *http.Request, *journey.Journey, *journey.Person) error {
				return tc.err
			})}
			err := f.Finish(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil),
				&journey.Journey{Channel: tc.channel, Service: "site"}, &journey.Person{})
			require.Equal(t, tc.err, err)
			require.Equal(t, []string(tc.want), []string(got))
		})
	}
}
