package ruleset

// CELFindingsExpression evaluates, with a generated ValidatingAdmissionPolicy's variables, to the
// rule's findings: "field\x1fcontainer\x1fmsg" for each, joined by "\x1e". Every generated policy
// ends its variables with `findings`, so one expression serves them all; the generator records it
// and the CEL engine evaluates it.
const CELFindingsExpression = `variables.findings.map(g, g.map(f, string(f.field) + "\u001f" + string(f.container) + "\u001f" + string(f.msg)).join("\u001e")).filter(s, s != "").join("\u001e")`
