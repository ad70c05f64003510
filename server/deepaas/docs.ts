/**
 * The API documentation page: one self-contained HTML page (no CDN, nothing fetched from outside)
 * that reads `/openapi.json` and lists every route with its parameters, request bodies and responses.
 */

/** The HTML of the docs page. */
export function docsPage(openapiPath = '/openapi.json'): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sharpstream API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem 1.5rem 4rem; color: #1d2430; }
  h1 { margin-bottom: .2rem; } .muted { color: #5b6675; }
  details { border: 1px solid #d6dbe3; border-radius: 6px; margin: .5rem 0; }
  summary { cursor: pointer; padding: .5rem .75rem; font-family: ui-monospace, monospace; }
  .m { display: inline-block; min-width: 4.5rem; font-weight: 700; }
  .GET { color: #1565c0; } .POST { color: #2e7d32; } .DELETE { color: #c62828; } .PUT, .PATCH { color: #8a5a00; }
  .body { padding: 0 .75rem .75rem; } pre { background: #f5f7fa; padding: .5rem; overflow: auto; font-size: 13px; }
  table { border-collapse: collapse; } td, th { border-bottom: 1px solid #e4e8ee; padding: .2rem .6rem .2rem 0; text-align: left; vertical-align: top; }
  h3 { margin: 1.5rem 0 .3rem; }
</style>
</head>
<body>
<h1 id="title">sharpstream API</h1>
<p class="muted" id="desc">Reading <a href="${openapiPath}">${openapiPath}</a>…</p>
<div id="routes"></div>
<script type="module">
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const json = (v) => '<pre>' + esc(JSON.stringify(v, null, 2)) + '</pre>';
try {
  const doc = await (await fetch(${JSON.stringify(openapiPath)})).json();
  document.getElementById('title').textContent = (doc.info?.title ?? 'API') + ' ' + (doc.info?.version ?? '');
  document.getElementById('desc').innerHTML = esc(doc.info?.description ?? '') + ' — <a href="${openapiPath}">OpenAPI document</a>';
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(ops)) {
      if (typeof op !== 'object' || !op || !['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method: method.toUpperCase(), op });
    }
  }
  let html = '';
  for (const [tag, list] of byTag) {
    html += '<h3>' + esc(tag) + '</h3>';
    for (const { path, method, op } of list) {
      html += '<details><summary><span class="m ' + method + '">' + method + '</span> ' + esc(path) + ' <span class="muted">' + esc(op.summary ?? '') + '</span></summary><div class="body">';
      if (op.description) html += '<p>' + esc(op.description) + '</p>';
      if (op.parameters?.length) {
        html += '<table><tr><th>parameter</th><th>in</th><th>type</th><th>description</th></tr>';
        for (const p of op.parameters) html += '<tr><td><code>' + esc(p.name) + '</code>' + (p.required ? ' *' : '') + '</td><td>' + esc(p.in) + '</td><td>' + esc(p.schema?.type ?? '') + (p.schema?.enum ? ' (' + esc(p.schema.enum.join(', ')) + ')' : '') + '</td><td>' + esc(p.description ?? p.schema?.description ?? '') + '</td></tr>';
        html += '</table>';
      }
      for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) html += '<p><b>request body</b> ' + esc(type) + '</p>' + json(c.schema);
      for (const [code, r] of Object.entries(op.responses ?? {})) {
        html += '<p><b>' + esc(code) + '</b> ' + esc(r.description ?? '') + '</p>';
        for (const [type, c] of Object.entries(r.content ?? {})) if (code.startsWith('2')) html += '<p class="muted">' + esc(type) + '</p>' + json(c.schema);
      }
      html += '</div></details>';
    }
  }
  document.getElementById('routes').innerHTML = html;
} catch (e) {
  document.getElementById('desc').textContent = 'Could not read ${openapiPath}: ' + e.message;
}
</script>
</body>
</html>
`;
}
