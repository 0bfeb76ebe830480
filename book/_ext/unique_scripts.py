"""Sphinx extension: drop repeated <script> entries from every page.

sphinx-thebe registers its configuration script on each `env-before-read-docs` event,
which Jupyter Book fires twice per build, so every page declared `const THEBE_JS_URL`
twice and the browser logged "Identifier 'THEBE_JS_URL' has already been declared".
Keeping the first of identical scripts fixes it.
"""


def _unique_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (
            getattr(script, "filename", None) or "",
            getattr(script, "attributes", {}).get("body"),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _unique_scripts, priority=999)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
