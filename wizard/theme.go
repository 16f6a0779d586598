package wizard

import "github.com/charmbracelet/huh"

// Theme is the forms' look: huh's Charm theme, with the chosen button of a
// yes/no question marked by a character as well as by colour. Under
// NO_COLOR (https://no-color.org) or --no-color the colours are gone, and
// without the mark Yes and No would look the same whichever is chosen.
func Theme() *huh.Theme {
	t := huh.ThemeCharm()
	for _, s := range []*huh.FieldStyles{&t.Focused, &t.Blurred} {
		s.FocusedButton = s.FocusedButton.SetString("›")
		s.BlurredButton = s.BlurredButton.SetString(" ")
	}
	return t
}
