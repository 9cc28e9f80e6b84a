"""Members of a workspace: adding people, their roles, their first sign-in."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from .models import Membership, Tenant


@dataclass(frozen=True)
class MemberAdded:
    membership: Membership
    user_created: bool
    # A link to choose a password, for a user who has none yet.
    set_password_url: str | None


def set_password_url(user: AbstractBaseUser) -> str:
    """A link to choose a password, valid until it is used (or PASSWORD_RESET_TIMEOUT).

    Django's reset tokens hash the current password and last login, so using the link
    (or signing in) makes it stale: it works once.
    """
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return f"{settings.PUBLIC_BASE_URL}{path}"


def member_add(
    *, tenant: Tenant, email: str, role: str, password: str | None = None
) -> MemberAdded:
    """Give the person with ``email`` the ``role`` in ``tenant``, creating their user.

    Merchants sign in to admin, so the user is staff, never a superuser. With a
    ``password`` it is checked by the password validators and set; a user left without
    a password gets a one-time link to choose it.
    """
    email = email.strip().lower()
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}; choose {', '.join(Membership.Role.values)}.")
    User = get_user_model()
    with transaction.atomic():
        user = (
            User.objects.filter(username__iexact=email).first()
            or User.objects.filter(email__iexact=email).order_by("pk").first()
        )
        created = user is None
        if user is None:
            user = User(username=email, email=email)
            user.set_unusable_password()
        user.is_staff = True
        if password is not None:
            validate_password(password, user)
            user.set_password(password)
        user.save()
        membership, _ = Membership.objects.update_or_create(
            user=user, tenant=tenant, defaults={"role": role}
        )
    return MemberAdded(
        membership=membership,
        user_created=created,
        # Only for someone who has no password yet: a link for an existing account would
        # let whoever adds it take that account over.
        set_password_url=None if user.has_usable_password() else set_password_url(user),
    )


def _is_last_owner(membership: Membership) -> bool:
    """Whether this membership, as stored, is its workspace's only owner."""
    owners = Membership.objects.filter(tenant_id=membership.tenant_id, role=Membership.Role.OWNER)
    return list(owners.values_list("pk", flat=True)[:2]) == [membership.pk]


def membership_role_check(*, membership: Membership, role: str) -> None:
    """Refuse to leave a workspace without an owner."""
    if membership.pk and role != Membership.Role.OWNER and _is_last_owner(membership):
        raise ValidationError(
            "This is the workspace's only owner: make someone else owner first.", code="last_owner"
        )


def membership_removable(*, membership: Membership) -> bool:
    return not _is_last_owner(membership)
