from __future__ import annotations

import re

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from dashboard.views import media_view

from .api.errors import api_not_found
from .metrics import metrics_view

handler400 = "mrrx.api.errors.handler400"
handler403 = "mrrx.api.errors.handler403"
handler404 = "mrrx.api.errors.handler404"
handler500 = "mrrx.api.errors.handler500"

urlpatterns = [
    # Prometheus' scrape (off unless METRICS_TOKEN is set).
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include(("mrrx.api_urls", "api"), namespace="v1")),
    path("v1/", include(("mrrx.api_urls", "api"), namespace="v1-alias")),
    # billing: inbound Stripe webhooks (api/stripe/...) and the Connect OAuth callback.
    path("", include("billing.urls")),
    # Anything else under the API prefixes answers in the envelope, in DEBUG too.
    re_path(r"^(api|v1)/", api_not_found),
    # dashboard: analytics, operations, workspace switcher, flow preview, password set/reset.
    path("admin/", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("", include("sessions_app.urls")),
    # hub: the subscription hub's page (/h/<token>), its plan change and status pages.
    path("", include("hub.urls")),
]

# dashboard: uploaded logos, served by Django only in the embedded default and in DEBUG
# (the view checks); production serves MEDIA_ROOT from the web server or a bucket.
urlpatterns.append(
    re_path(rf"^{re.escape(settings.MEDIA_URL.lstrip('/'))}(?P<path>.*)$", media_view)
)
