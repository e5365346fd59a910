// Links out of the UI (the configuration file's `ui.links`, as Jaeger UI's link patterns): URL
// templates whose ${variables} are filled from the trace or span on screen. Every value is
// URL-encoded, so a service or operation name cannot change where a link points.

/** The template with each known ${name} replaced by its encoded value; unknown names stay. */
export function expandLink(template, vars) {
  return template.replace(/\$\{(\w+)\}/g, (whole, name) =>
    vars[name] === undefined ? whole : encodeURIComponent(String(vars[name])));
}

/** The variables of a time window in Unix microseconds, widened by `paddingUs` on both sides. */
export function linkVars({ traceId, spanId, service, operation, startUs, endUs }, paddingUs = 0) {
  const start = Math.floor(startUs - paddingUs);
  const end = Math.ceil(endUs + paddingUs);
  const iso = us => new Date(Math.floor(us / 1000)).toISOString();
  return {
    traceId, spanId, service, operation,
    startUs: start, endUs: end,
    startMs: Math.floor(start / 1000), endMs: Math.ceil(end / 1000),
    startISO: iso(start), endISO: iso(end),
  };
}

/** The configured links of one scope (trace, span or service) as {text, href}. */
export function linksFor(config, scope, vars) {
  return (config?.links || []).filter(l => l.scope === scope)
    .map(l => ({ text: l.text, href: expandLink(l.url, vars) }))
    .filter(l => /^https?:\/\//i.test(l.href));
}
