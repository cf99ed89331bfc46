package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"wxcas/templates"
)

func TestOverlayBrandsOnePage(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "info.html"),
		[]byte(`{{define "content"}}<p id="brand">Example University</p>{{.T .Data.MessageKey}}{{end}}`), 0o644))
	pages, err := NewPages(Overlay(dir, templates.FS), false)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	require.NoError(t, pages.Info(w, httptest.NewRequest("GET", "/", nil), http.StatusOK, InfoPage{MessageKey: "logged_out"}))
	require.Contains(t, w.Body.String(), `<p id="brand">Example University</p>`, "the override is used")
	require.Contains(t, w.Body.String(), "你已安全退出", "with the catalogue")
	w = httptest.NewRecorder()
	require.NoError(t, pages.Error(w, httptest.NewRequest("GET", "/", nil), 404, "error_title", "error_not_found", ""))
	require.Contains(t, w.Body.String(), "页面不存在", "other pages still come from the embedded set")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "error.html"), []byte(`{{define "content"}}{{.Broken}`), 0o644))
	_, err = NewPages(Overlay(dir, templates.FS), false)
	require.ErrorContains(t, err, "error.html", "a broken override stops start-up")
}
