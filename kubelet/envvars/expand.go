package envvars

import "strings"

// Expand replaces the references $(VAR) in input with mapping(VAR), the way the kubelet expands
// env values, command, args and subPathExpr: "$$" is an escaped "$" (written as one "$"), a "$"
// that starts no reference is kept as written, and an unclosed "$(" is kept as written. What
// mapping returns for an unknown name is the caller's choice; MappingFor keeps "$(VAR)".
func Expand(input string, mapping func(string) string) string {
	if !strings.Contains(input, "$") {
		return input
	}
	var b strings.Builder
	b.Grow(len(input))
	for i := 0; i < len(input); i++ {
		ch := input[i]
		if ch != '$' || i+1 == len(input) {
			b.WriteByte(ch)
			continue
		}
		next := input[i+1]
		switch next {
		case '$':
			// "$$" → "$"
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(input[i+2:], ')')
			if end < 0 {
				// Unclosed reference: keep "$(" and go on after it.
				b.WriteString("$(")
				i++
				continue
			}
			b.WriteString(mapping(input[i+2 : i+2+end]))
			i += 2 + end
		default:
			// A lone "$": keep it with the byte after it.
			b.WriteByte('$')
			b.WriteByte(next)
			i++
		}
	}
	return b.String()
}

// MappingFor returns a mapping for Expand that looks name up in each of lookups in turn and
// leaves an undefined reference as written ("$(NAME)").
func MappingFor(lookups ...func(name string) (string, bool)) func(string) string {
	return func(name string) string {
		for _, l := range lookups {
			if v, ok := l(name); ok {
				return v
			}
		}
		return "$(" + name + ")"
	}
}
