package cmserver

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

type slogLogger = slog.Logger

func httpClient() *http.Client { return &http.Client{Timeout: 5 * time.Second} }
func itoa(n int) string        { return strconv.Itoa(n) }
