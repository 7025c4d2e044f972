"""The Textual front end of pttutor: every Textual import lives in this package.

The UI process never imports torch, not even indirectly: code runs in the sandbox child, and this
package reaches it only through `tutor.grader` and a runner. Modules, one job each:
`app` wiring, `keys` bindings, `session` navigation and saving, `devices` CPU/CUDA choice,
`runs` worker messages, and one module per pane or screen.
"""
