// The integrator's scenario through the TypeScript client generated from
// openapi/openapi.json (openapi-typescript types, openapi-fetch calls), run by
// .ci/openapi.sh against the real service:
//
//   platform admin: create an org, make an org admin, put the site in the rollout
//   org admin:      create a site, a product and a site admin
//   outsider:       ask for the product for themselves, with a reason
//   site admin:     approve with no body at all, read the grant, revoke it
//
// Every step checks the HTTP status and a few typed fields; the first failure
// ends the run with a non-zero exit status.
import createClient from "openapi-fetch";
import type { paths } from "./schema.js";

/** A named value from the environment that .ci/openapi.sh sets. */
function env(name: string): string {
    const value = process.env[name];
    if (value === undefined || value === "") {
        throw new Error(`${name} is not set`);
    }
    return value;
}

const baseUrl = env("BASE_URL");
const run = env("RUN_ID");
const actors = {
    platformAdmin: { id: env("PLATFORM_ADMIN_ID"), token: env("PLATFORM_ADMIN_TOKEN") },
    orgAdmin: { id: env("ORG_ADMIN_ID"), token: env("ORG_ADMIN_TOKEN") },
    siteAdmin: { id: env("SITE_ADMIN_ID"), token: env("SITE_ADMIN_TOKEN") },
    requester: { id: env("REQUESTER_ID"), token: env("REQUESTER_TOKEN") },
};

/** One client per caller: the bearer token is a default header of each. */
function clientFor(token: string) {
    return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}
const asPlatformAdmin = clientFor(actors.platformAdmin.token);
const asOrgAdmin = clientFor(actors.orgAdmin.token);
const asSiteAdmin = clientFor(actors.siteAdmin.token);
const asRequester = clientFor(actors.requester.token);

/** The parsed body of an answer with exactly the expected status, else a failure naming the step. */
function expect<T>(step: string, status: number, answer: { data?: T; error?: unknown; response: Response }): T {
    if (answer.response.status !== status) {
        throw new Error(`${step}: HTTP ${answer.response.status}, expected ${status}: ${JSON.stringify(answer.error)}`);
    }
    console.log(`ok  ${step}: ${status}`);
    return answer.data as T;
}

/** Fails the run when a typed field does not hold what the step expects. */
function check(step: string, condition: boolean, what: string): void {
    if (!condition) {
        throw new Error(`${step}: ${what}`);
    }
}

async function main(): Promise<void> {
    const org = expect(
        "create_org",
        201,
        await asPlatformAdmin.POST("/v1/orgs", {
            body: { name: `TypeScript client ${run}`, verified_domains: ["example.com"] },
        }),
    );
    check("create_org", org.name === `TypeScript client ${run}`, `name is ${org.name}`);
    check("create_org", org.verified_domains.includes("example.com"), "example.com is not a verified domain");

    expect(
        "add_org_admin",
        204,
        await asPlatformAdmin.PUT("/v1/orgs/{org_id}/admins/{account_id}", {
            params: { path: { org_id: org.id, account_id: actors.orgAdmin.id } },
        }),
    );

    const site = expect(
        "create_site",
        201,
        await asOrgAdmin.POST("/v1/orgs/{org_id}/sites", {
            params: { path: { org_id: org.id } },
            body: { name: `Acme ${run}`, url: `https://acme-${run}.example.com` },
        }),
    );
    check("create_site", site.org_id === org.id, `org_id is ${site.org_id}`);

    const settings = expect(
        "set_site_rollout",
        200,
        await asPlatformAdmin.PUT("/v1/sites/{site_id}/rollout", {
            params: { path: { site_id: site.id } },
            body: { in_rollout: true },
        }),
    );
    check("set_site_rollout", settings.external_requests_enabled, "external requests are not enabled");

    const product = expect(
        "upsert_product",
        201,
        await asOrgAdmin.PUT("/v1/sites/{site_id}/products/{product_key}", {
            params: { path: { site_id: site.id, product_key: "jira-software" } },
            body: { name: "Jira Software", default_group: "jira-software-users", seat_limit: 10 },
        }),
    );
    check("upsert_product", product.seats_used === 0, `seats_used is ${product.seats_used}`);
    check("upsert_product", product.max_duration_hours === null, "max_duration_hours is not null");

    const siteAdmin = expect(
        "upsert_site_user",
        201,
        await asOrgAdmin.PUT("/v1/sites/{site_id}/users/{account_id}", {
            params: { path: { site_id: site.id, account_id: actors.siteAdmin.id } },
            body: { email: "site-admin@example.com", display_name: "Sita Admin", role: "admin" },
        }),
    );
    check("upsert_site_user", siteAdmin.role === "admin", `role is ${siteAdmin.role}`);

    const created = expect(
        "create_access_request",
        201,
        await asRequester.POST("/v1/sites/{site_id}/access-requests", {
            params: { path: { site_id: site.id } },
            body: { product_key: "jira-software", reason: "I triage the support queue" },
        }),
    );
    check("create_access_request", created.kind === "self", `kind is ${created.kind}`);
    check("create_access_request", created.status === "pending", `status is ${created.status}`);
    check("create_access_request", created.subject.account_id === actors.requester.id, "wrong subject");
    check("create_access_request", created.grant_id === null, "a pending request has a grant");

    // No body at all: the document says the body is optional.
    const approved = expect(
        "approve_access_request",
        200,
        await asSiteAdmin.POST("/v1/sites/{site_id}/access-requests/{request_id}/approve", {
            params: { path: { site_id: site.id, request_id: created.id } },
        }),
    );
    check("approve_access_request", approved.status === "approved", `status is ${approved.status}`);
    check("approve_access_request", approved.decided_by === actors.siteAdmin.id, `decided_by is ${approved.decided_by}`);
    const grantId = approved.grant_id;
    if (grantId === null) {
        throw new Error("approve_access_request: no grant_id");
    }

    const grant = expect(
        "get_grant",
        200,
        await asSiteAdmin.GET("/v1/sites/{site_id}/grants/{grant_id}", {
            params: { path: { site_id: site.id, grant_id: grantId } },
        }),
    );
    check("get_grant", grant.status === "active", `status is ${grant.status}`);
    check("get_grant", grant.source === "request", `source is ${grant.source}`);
    check("get_grant", grant.request_id === created.id, `request_id is ${grant.request_id}`);
    check("get_grant", grant.account_id === actors.requester.id, `account_id is ${grant.account_id}`);

    const revoked = expect(
        "revoke_grant",
        200,
        await asSiteAdmin.POST("/v1/sites/{site_id}/grants/{grant_id}/revoke", {
            params: { path: { site_id: site.id, grant_id: grantId } },
            body: { reason: "the quarter is over" },
        }),
    );
    check("revoke_grant", revoked.status === "revoked", `status is ${revoked.status}`);
    check("revoke_grant", revoked.end_reason === "revoked", `end_reason is ${revoked.end_reason}`);
    check("revoke_grant", revoked.ended_by === actors.siteAdmin.id, `ended_by is ${revoked.ended_by}`);

    const reread = expect(
        "get_grant after revoke",
        200,
        await asRequester.GET("/v1/sites/{site_id}/grants/{grant_id}", {
            params: { path: { site_id: site.id, grant_id: grantId } },
        }),
    );
    check("get_grant after revoke", reread.status === "revoked", `status is ${reread.status}`);
    console.log(`TypeScript scenario passed (org ${org.id}, site ${site.id}, grant ${grantId})`);
}

main().catch((error: unknown) => {
    console.error(`TypeScript scenario failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
});
