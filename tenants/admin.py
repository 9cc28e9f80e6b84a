"""Workspaces, members and API keys in admin. A new key's secret is shown once, on the
page that answers its creation, and is stored nowhere. Also the workspace's audit log,
whose app sits below this one and so cannot scope its own page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from audit.admin import AuditEntryAdminBase
from audit.models import AuditEntry
from mrrx.admin_pages import secret_shown_once

from .admin_scoping import TenantScopedAdminMixin, TenantScopedInlineMixin
from .forms import MemberAddForm, MembershipChangeForm, TenantForm
from .members import member_add, membership_removable
from .models import DEFAULT_SCOPES, ApiKey, Membership, Tenant
from .services import apikey_issue, apikey_revoke, tenant_create
from .workspace import current_tenant


class MembershipInline(TenantScopedInlineMixin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_path = "pk"
    form = TenantForm
    list_display = ["name", "slug", "id", "created_at"]
    search_fields = ["name", "slug", "id"]
    readonly_fields = ["id", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["id", "name", "slug", "created_at"]}),
        ("Branding", {"fields": ["brand_color", "logo", "support_email"]}),
        (
            "Receipts",
            {
                "fields": ["receipts_enabled", "receipt_reply_to"],
                "description": "After each completed action, the subscriber is emailed what "
                "changed. Replies go to the reply-to address, else to the support email.",
            },
        ),
        ("Cancel flow", {"fields": ["strict_click_to_cancel"]}),
        ("Language", {"fields": ["default_locale"]}),
        ("Return URLs", {"fields": ["return_url_allowlist", "default_return_url"]}),
        ("Limits", {"fields": ["rate_limit_overrides"]}),
    ]

    # Merchants manage members on their own page (picking users is for operators), and
    # may not rename the slug or raise their own rate limits.
    def get_inlines(self, request: HttpRequest, obj: Tenant | None) -> list[Any]:
        return list(self.inlines) if request.user.is_superuser else []

    def get_readonly_fields(self, request: HttpRequest, obj: Tenant | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["slug", "rate_limit_overrides"]
        return fields

    def get_prepopulated_fields(self, request: HttpRequest, obj: Tenant | None = None) -> dict:
        return super().get_prepopulated_fields(request, obj) if request.user.is_superuser else {}

    def save_model(self, request: HttpRequest, obj: Tenant, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        fields = {f: form.cleaned_data[f] for f in form.cleaned_data if f not in ("name", "slug")}
        created = tenant_create(name=obj.name, slug=obj.slug, **fields)
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "weekly_report", "created_at"]
    list_filter = ["role", "weekly_report"]
    search_fields = ["user__email", "user__username", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]

    # Operators pick any user and workspace; an owner adds people to the current
    # workspace by email (see tenants.members.member_add) and changes only roles.
    def get_form(self, request: HttpRequest, obj: Membership | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        if not request.user.is_superuser:
            kwargs["form"] = MemberAddForm if obj is None else MembershipChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        if request.user.is_superuser:
            return super().get_fields(request, obj)
        return ["email", "role"] if obj is None else ["user", "tenant", "role", "weekly_report"]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> list[str]:
        if request.user.is_superuser or obj is None:
            return list(super().get_readonly_fields(request, obj))
        return ["user", "tenant"]

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        if obj is not None and not membership_removable(membership=obj):
            return False  # a workspace keeps at least one owner
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for tenant_id in set(queryset.values_list("tenant_id", flat=True)):
            owners = Membership.objects.filter(tenant_id=tenant_id, role=Membership.Role.OWNER)
            if not owners.exclude(pk__in=queryset.values("pk")).exists():
                queryset = queryset.exclude(tenant_id=tenant_id, role=Membership.Role.OWNER)
                self.message_user(
                    request, "A workspace keeps at least one owner: kept its owners.",
                    messages.WARNING,
                )  # fmt: skip
        super().delete_queryset(request, queryset)

    def save_model(self, request: HttpRequest, obj: Membership, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change or request.user.is_superuser:
            super().save_model(request, obj, form, change)
            return
        added = member_add(
            tenant=current_tenant(request), email=form.cleaned_data["email"], role=obj.role
        )
        membership = added.membership
        obj.pk, obj.user, obj.tenant = membership.pk, membership.user, membership.tenant
        obj._state.adding, obj._state.db = False, membership._state.db
        # Held on the request only, for the answer to this POST.
        request._member_set_password_url = added.set_password_url  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: Membership, post_url_continue=None
    ) -> HttpResponse:  # type: ignore[no-untyped-def]
        if request.user.is_superuser:
            return super().response_add(request, obj, post_url_continue)
        return secret_shown_once(
            self,
            request,
            template="admin/tenants/membership/added.html",
            title="Member added",
            membership=obj,
            set_password_url=getattr(request, "_member_set_password_url", None),
        )


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    list_display = ["prefix", "name", "tenant", "livemode", "status", "last_used_at", "expires_at"]
    list_filter = ["livemode"]
    search_fields = ["prefix", "name", "tenant__name"]
    actions = ["revoke_keys"]
    autocomplete_fields = ["tenant"]

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return ["tenant", "name", "livemode", "scopes", "expires_at"]
        return [
            "prefix",
            "tenant",
            "name",
            "livemode",
            "scopes",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "created_at",
            "created_by",
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> list[str]:
        if obj is None:
            return []
        return ["prefix", "tenant", "livemode", "scopes", "revoked_at", "last_used_at",
                "created_at", "created_by"]  # fmt: skip

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"scopes": list(DEFAULT_SCOPES), "livemode": False}

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at:
            return "revoked"
        if obj.is_expired:
            return "expired"
        return "active"

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        key, plaintext = apikey_issue(
            tenant=obj.tenant,
            livemode=obj.livemode,
            scopes=obj.scopes or DEFAULT_SCOPES,
            name=obj.name,
            expires_at=obj.expires_at,
            created_by=request.user,
        )
        obj.pk, obj._state.adding, obj._state.db = key.pk, False, key._state.db
        # Held on the request only, for the answer to this POST.
        request._new_api_key_plaintext = plaintext  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue=None
    ) -> HttpResponse:  # type: ignore[no-untyped-def]
        plaintext = getattr(request, "_new_api_key_plaintext", None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        return secret_shown_once(
            self,
            request,
            template="admin/tenants/apikey/created.html",
            title="Copy your new API key",
            api_key=obj,
            plaintext=plaintext,
        )

    @admin.action(description="Revoke selected keys")
    def revoke_keys(self, request: HttpRequest, queryset) -> None:  # type: ignore[no-untyped-def]
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            apikey_revoke(api_key=key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s) at {timezone.now():%H:%M:%S} UTC.",
                          messages.SUCCESS)  # fmt: skip

    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False  # revoke instead, so the key's history stays


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdminMixin, AuditEntryAdminBase):
    tenant_path = "tenant_id"  # a plain column: audit has no foreign key to workspaces

    def tenant_id_of(self, obj: AuditEntry) -> str:
        return obj.tenant_id
