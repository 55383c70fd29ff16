"""The people's pages: graders' review queue, analysts' pricing queue, case pages, at `/ui/`.

Server-rendered (Jinja2 templates, one stylesheet, a little vanilla JavaScript; nothing is
fetched from the internet). The handlers call the same store and `serving.assess` code as the
JSON routes. `serving.web.service` mounts the pages on the API service.
"""
