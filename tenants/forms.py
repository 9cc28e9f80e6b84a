"""Admin forms for workspaces and their members: branding, adding people, roles."""

from __future__ import annotations

import re
import secrets
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

from .members import membership_role_check
from .models import Membership, Tenant

BRAND_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Pillow's format name → the extension the stored file gets (never the uploader's).
LOGO_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
LOGO_MAX_PIXELS = 4096


def logo_clean(upload: UploadedFile) -> UploadedFile:
    """Accept a PNG, JPEG or WebP image of at most LOGO_MAX_BYTES, judged by its content.

    SVG is refused: it can carry script, and the hosted pages show the logo inline.
    The stored name is made here, so nothing of the uploader's file name is kept.
    """
    limit = settings.LOGO_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            f"The logo is {upload.size // 1024} KB; the limit is {limit // 1024} KB.",
            code="logo_too_large",
        )
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            image_format = image.format
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            "The logo must be a PNG, JPEG or WebP image.", code="logo_not_an_image"
        ) from exc
    finally:
        upload.seek(0)
    if image_format not in LOGO_FORMATS:
        raise ValidationError(
            f"The logo is a {image_format} image; use PNG, JPEG or WebP.", code="logo_format"
        )
    if width > LOGO_MAX_PIXELS or height > LOGO_MAX_PIXELS:
        raise ValidationError(
            f"The logo is {width}x{height} pixels; at most {LOGO_MAX_PIXELS} a side.",
            code="logo_dimensions",
        )
    upload.name = f"{secrets.token_hex(8)}.{LOGO_FORMATS[image_format]}"
    return upload


class TenantForm(forms.ModelForm):
    """The workspace's settings, with branding checked."""

    default_return_url = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    default_locale = forms.ChoiceField(
        label="Default language",
        choices=settings.LANGUAGES,
        initial=settings.LANGUAGE_CODE,
        # Left out of a post, the language stays what it was.
        required=False,
        help_text="The hosted pages' and receipts' language when neither the session "
        "(its locale) nor the subscriber's browser names one MRRX speaks.",
    )

    class Meta:
        model = Tenant
        fields = [
            "name", "slug", "brand_color", "logo", "support_email", "return_url_allowlist",
            "default_return_url", "rate_limit_overrides", "strict_click_to_cancel",
        ]  # fmt: skip
        widgets = {"brand_color": forms.TextInput(attrs={"type": "color"})}
        help_texts = {
            "brand_color": "#RRGGBB: buttons and the header of the hosted pages.",
            "logo": "PNG, JPEG or WebP, at most 512 KB. Shown in the hosted pages' header.",
            "support_email": "Shown to subscribers on the hosted pages.",
            "strict_click_to_cancel": _(
                "On: subscribers may cancel without giving a reason. The first page of the "
                "cancel flow has a 'Skip to cancel' button, in live and test mode, "
                "and the flow API takes a cancel before any survey answer. Off: they choose "
                "a reason first. Either way, cancelling never takes more than three clicks."
            ),
        }
        labels = {"strict_click_to_cancel": _("Strict click-to-cancel")}

    def clean_brand_color(self) -> str:
        color = (self.cleaned_data.get("brand_color") or "").strip()
        if not BRAND_COLOR.match(color):
            raise ValidationError("Use a colour in the form #RRGGBB, e.g. #4f46e5.")
        return color.lower()

    def clean_default_locale(self) -> str:
        chosen = self.cleaned_data.get("default_locale")
        return chosen or self.instance.default_locale or settings.LANGUAGE_CODE

    def clean_logo(self) -> Any:
        logo = self.cleaned_data.get("logo")
        if isinstance(logo, UploadedFile):
            return logo_clean(logo)
        return logo


class MemberAddForm(forms.ModelForm):
    """How a workspace owner adds someone: by email, new users get a link to set a password."""

    email = forms.EmailField(
        help_text="Their sign-in. Someone new gets a one-time link to choose a password."
    )

    class Meta:
        model = Membership
        fields = ["role"]


class MembershipChangeForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["role", "weekly_report"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        membership_role_check(membership=self.instance, role=role)
        return role
