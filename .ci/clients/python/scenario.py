"""The integrator's scenario through the Python client generated from openapi/openapi.json.

openapi-python-client makes the package `access_requests_client`; .ci/openapi.sh runs this
against the real service:

  platform admin: create an org, make an org admin, put the site in the rollout
  org admin:      create a site, a product and a site admin
  outsider:       ask for the product for themselves, with a reason
  site admin:     approve with no body at all, read the grant, revoke it

Every step checks the HTTP status and a few typed fields; the first failure ends the run
with a non-zero exit status.
"""

import os
import sys
from http import HTTPStatus
from typing import Any, TypeVar
from uuid import UUID

from access_requests_client import AuthenticatedClient
from access_requests_client.api.access_requests import (
    approve_access_request,
    create_access_request,
)
from access_requests_client.api.directory import (
    add_org_admin,
    create_org,
    create_site,
    upsert_product,
    upsert_site_user,
)
from access_requests_client.api.grants import get_grant, revoke_grant
from access_requests_client.api.settings import set_site_rollout
from access_requests_client.models import (
    AccessRequest,
    AccessRequestSettings,
    CreateAccessRequest,
    CreateOrg,
    CreateSite,
    EndReason,
    Grant,
    GrantSource,
    GrantStatus,
    Org,
    Product,
    PutProduct,
    PutRollout,
    PutSiteUser,
    RequestKind,
    RequestStatus,
    RevokeBody,
    Site,
    SiteRole,
    SiteUser,
)
from access_requests_client.types import Response

T = TypeVar("T")


class ScenarioFailed(Exception):
    """A step got an answer that the scenario does not expect."""


def env(name: str) -> str:
    """A named value from the environment that .ci/openapi.sh sets."""
    value = os.environ.get(name, "")
    if not value:
        raise ScenarioFailed(f"{name} is not set")
    return value


def expect(step: str, status: HTTPStatus, answer: Response[Any], model: type[T]) -> T:
    """The parsed body of an answer with exactly the expected status and model."""
    if answer.status_code != status:
        raise ScenarioFailed(
            f"{step}: HTTP {int(answer.status_code)}, expected {int(status)}: {answer.content!r}"
        )
    if not isinstance(answer.parsed, model):
        raise ScenarioFailed(f"{step}: parsed as {type(answer.parsed).__name__}, not {model.__name__}")
    print(f"ok  {step}: {int(status)}")
    return answer.parsed


def expect_empty(step: str, status: HTTPStatus, answer: Response[Any]) -> None:
    """An answer without a body, with exactly the expected status."""
    if answer.status_code != status:
        raise ScenarioFailed(
            f"{step}: HTTP {int(answer.status_code)}, expected {int(status)}: {answer.content!r}"
        )
    print(f"ok  {step}: {int(status)}")


def check(step: str, condition: bool, what: str) -> None:
    """Fails the run when a typed field does not hold what the step expects."""
    if not condition:
        raise ScenarioFailed(f"{step}: {what}")


def main() -> None:
    """Runs the scenario once, with a fresh org and site."""
    base_url = env("BASE_URL")
    run = env("RUN_ID")
    org_admin_id = env("ORG_ADMIN_ID")
    site_admin_id = env("SITE_ADMIN_ID")
    requester_id = env("REQUESTER_ID")

    def client_for(token_variable: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=base_url, token=env(token_variable), raise_on_unexpected_status=True)

    as_platform_admin = client_for("PLATFORM_ADMIN_TOKEN")
    as_org_admin = client_for("ORG_ADMIN_TOKEN")
    as_site_admin = client_for("SITE_ADMIN_TOKEN")
    as_requester = client_for("REQUESTER_TOKEN")

    org = expect(
        "create_org",
        HTTPStatus.CREATED,
        create_org.sync_detailed(
            client=as_platform_admin,
            body=CreateOrg(name=f"Python client {run}", verified_domains=["example.com"]),
        ),
        Org,
    )
    check("create_org", org.name == f"Python client {run}", f"name is {org.name}")
    check("create_org", "example.com" in org.verified_domains, "example.com is not a verified domain")

    expect_empty(
        "add_org_admin",
        HTTPStatus.NO_CONTENT,
        add_org_admin.sync_detailed(org.id, org_admin_id, client=as_platform_admin),
    )

    site = expect(
        "create_site",
        HTTPStatus.CREATED,
        create_site.sync_detailed(
            org.id,
            client=as_org_admin,
            body=CreateSite(name=f"Acme {run}", url=f"https://acme-{run}.example.com"),
        ),
        Site,
    )
    check("create_site", site.org_id == org.id, f"org_id is {site.org_id}")

    settings = expect(
        "set_site_rollout",
        HTTPStatus.OK,
        set_site_rollout.sync_detailed(site.id, client=as_platform_admin, body=PutRollout(in_rollout=True)),
        AccessRequestSettings,
    )
    check("set_site_rollout", settings.external_requests_enabled, "external requests are not enabled")

    product = expect(
        "upsert_product",
        HTTPStatus.CREATED,
        upsert_product.sync_detailed(
            site.id,
            "jira-software",
            client=as_org_admin,
            body=PutProduct(name="Jira Software", default_group="jira-software-users", seat_limit=10),
        ),
        Product,
    )
    check("upsert_product", product.seats_used == 0, f"seats_used is {product.seats_used}")
    check("upsert_product", product.max_duration_hours is None, "max_duration_hours is not null")

    site_admin = expect(
        "upsert_site_user",
        HTTPStatus.CREATED,
        upsert_site_user.sync_detailed(
            site.id,
            site_admin_id,
            client=as_org_admin,
            body=PutSiteUser(email="site-admin@example.com", display_name="Sita Admin", role=SiteRole.ADMIN),
        ),
        SiteUser,
    )
    check("upsert_site_user", site_admin.role == SiteRole.ADMIN, f"role is {site_admin.role}")

    created = expect(
        "create_access_request",
        HTTPStatus.CREATED,
        create_access_request.sync_detailed(
            site.id,
            client=as_requester,
            body=CreateAccessRequest(product_key="jira-software", reason="I triage the support queue"),
        ),
        AccessRequest,
    )
    check("create_access_request", created.kind == RequestKind.SELF, f"kind is {created.kind}")
    check("create_access_request", created.status == RequestStatus.PENDING, f"status is {created.status}")
    check("create_access_request", created.subject.account_id == requester_id, "wrong subject")
    check("create_access_request", created.grant_id is None, "a pending request has a grant")

    # No body at all: the document says the body is optional.
    approved = expect(
        "approve_access_request",
        HTTPStatus.OK,
        approve_access_request.sync_detailed(site.id, created.id, client=as_site_admin),
        AccessRequest,
    )
    check("approve_access_request", approved.status == RequestStatus.APPROVED, f"status is {approved.status}")
    check("approve_access_request", approved.decided_by == site_admin_id, f"decided_by is {approved.decided_by}")
    grant_id: UUID | None = approved.grant_id
    if grant_id is None:
        raise ScenarioFailed("approve_access_request: no grant_id")

    grant = expect(
        "get_grant",
        HTTPStatus.OK,
        get_grant.sync_detailed(site.id, grant_id, client=as_site_admin),
        Grant,
    )
    check("get_grant", grant.status == GrantStatus.ACTIVE, f"status is {grant.status}")
    check("get_grant", grant.source == GrantSource.REQUEST, f"source is {grant.source}")
    check("get_grant", grant.request_id == created.id, f"request_id is {grant.request_id}")
    check("get_grant", grant.account_id == requester_id, f"account_id is {grant.account_id}")

    revoked = expect(
        "revoke_grant",
        HTTPStatus.OK,
        revoke_grant.sync_detailed(
            site.id, grant_id, client=as_site_admin, body=RevokeBody(reason="the quarter is over")
        ),
        Grant,
    )
    check("revoke_grant", revoked.status == GrantStatus.REVOKED, f"status is {revoked.status}")
    check("revoke_grant", revoked.end_reason == EndReason.REVOKED, f"end_reason is {revoked.end_reason}")
    check("revoke_grant", revoked.ended_by == site_admin_id, f"ended_by is {revoked.ended_by}")

    reread = expect(
        "get_grant after revoke",
        HTTPStatus.OK,
        get_grant.sync_detailed(site.id, grant_id, client=as_requester),
        Grant,
    )
    check("get_grant after revoke", reread.status == GrantStatus.REVOKED, f"status is {reread.status}")
    print(f"Python scenario passed (org {org.id}, site {site.id}, grant {grant_id})")


if __name__ == "__main__":
    try:
        main()
    except ScenarioFailed as failure:
        print(f"Python scenario failed: {failure}", file=sys.stderr)
        sys.exit(1)
