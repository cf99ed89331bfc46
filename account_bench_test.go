package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkAccountPage measures a signed-in person's /account page on MySQL:
// the session checked alive, the user, their binding with its app accounts
// and their last logins read, the page rendered. It reports pages/s, the
// p50/p99 latency and the SQL statements of one page.
//
//	go test -run '^$' -bench AccountPage -benchtime 2000x .
func BenchmarkAccountPage(b *testing.B) {
	a, base, service := startBenchApp(b)

	const people = 16
	browsers := make([]*http.Client, people)
	for i := range people {
		person := fmt.Sprintf("acct%d", i)
		if _, err := runLogin(base, service, person); err == nil {
			b.Fatalf("%s is not bound yet", person)
		}
		bindPerson(b, a, person, fmt.Sprintf("+8613%09d", i))
		browsers[i] = sandboxBrowser(base)
		resp, err := sandboxQRLogin(browsers[i], base+"/account/", person)
		if err != nil {
			b.Fatal(err)
		}
		if resp.Request.URL.String() != base+"/account/" {
			b.Fatalf("%s: not on the account page: %s", person, resp.Request.URL)
		}
	}

	counted := serverCounters(b, a)
	timed(b, "pages", func(i int) error {
		resp, err := browsers[i%people].Get(base + "/account/")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="masked-phone"`) {
			return fmt.Errorf("status %d, not the account page", resp.StatusCode)
		}
		return nil
	})
	counted(b.N, "page")
}
