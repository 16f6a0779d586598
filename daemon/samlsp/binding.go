package samlsp

import (
	"encoding/base64"
	"html/template"
	"net/http"
)

var postForm = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SAML</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
<input type="hidden" name="{{.Param}}" value="{{.Value}}">
{{if .RelayState}}<input type="hidden" name="RelayState" value="{{.RelayState}}">{{end}}
<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
`))

// writePostForm answers with an auto-submitting HTTP-POST binding form.
func writePostForm(w http.ResponseWriter, action, param string, msg []byte, relayState string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = postForm.Execute(w, map[string]string{
		"Action": action, "Param": param,
		"Value":      base64.StdEncoding.EncodeToString(msg),
		"RelayState": relayState,
	})
}
