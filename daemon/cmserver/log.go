package cmserver

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// cmLog writes lines in the layout of cloudera-scm-server.log:
// "2017-10-05 15:35:22,774 INFO main:com.cloudera.server.cmf.Main: msg".
type cmLog struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func (l *cmLog) line(level, logger, msg string) {
	t := l.now()
	ts := t.Format("2006-01-02 15:04:05") + fmt.Sprintf(",%03d", t.Nanosecond()/1e6)
	l.raw(fmt.Sprintf("%s %s %s: %s", ts, level, logger, strings.ReplaceAll(msg, "\n", " ")))
}

func (l *cmLog) info(logger, msg string)  { l.line("INFO", logger, msg) }
func (l *cmLog) warn(logger, msg string)  { l.line("WARN", logger, msg) }
func (l *cmLog) error(logger, msg string) { l.line("ERROR", logger, msg) }

func (l *cmLog) raw(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s+"\n")
}

func jsonEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// logLines adapts net/http's error log (TLS handshake failures, etc.) to
// the CM log.
type logLines struct {
	l      *cmLog
	logger string
}

func (w *logLines) Write(p []byte) (int, error) {
	w.l.warn(w.logger, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
