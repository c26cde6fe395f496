"""JSON shapes of the GitHub stand-in, following GitHub's REST description and webhook payloads.

Objects carry every field GitHub's description marks required (and most optional ones real
responses include), with API URLs under `{base}/api/v3` and web URLs under `{base}`, as a
GitHub Enterprise Server would write them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from standins import github_git as gitops
from standins.github_model import (
    REACTIONS,
    AppRec,
    CommentRec,
    InstallationRec,
    IssueEventRec,
    IssueRec,
    LabelRec,
    PullRec,
    ReactionRec,
    RepoRec,
    ReviewCommentRec,
    ReviewRec,
    State,
    UserRec,
    iso,
    node_id,
    role_at_least,
)

Json = dict[str, Any]


class Renderer:
    """Builds GitHub-shaped JSON from the stand-in's records."""

    def __init__(self, state: State) -> None:
        self.s = state

    # ------------------------------------------------------------ people and apps

    def user(self, user: UserRec) -> Json:
        api, web = self.s.api, self.s.web
        login = quote(user.login, safe="")
        base = f"{api}/users/{login}"
        html = f"{web}/apps/{user.login.removesuffix('[bot]')}" if user.type == "Bot" else f"{web}/{login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": user.node_id,
            "avatar_url": f"{web}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": base,
            "html_url": html,
            "followers_url": f"{base}/followers",
            "following_url": f"{base}/following{{/other_user}}",
            "gists_url": f"{base}/gists{{/gist_id}}",
            "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/subscriptions",
            "organizations_url": f"{base}/orgs",
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events{{/privacy}}",
            "received_events_url": f"{base}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def login(self, login: str) -> Json:
        user = self.s.user(login)
        if user is None:
            user = self.s.ensure_user(login)
        return self.user(user)

    def organization(self, org: UserRec) -> Json:
        api, web = self.s.api, self.s.web
        base = f"{api}/orgs/{quote(org.login, safe='')}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": org.node_id,
            "url": base,
            "repos_url": f"{base}/repos",
            "events_url": f"{base}/events",
            "hooks_url": f"{base}/hooks",
            "issues_url": f"{base}/issues",
            "members_url": f"{base}/members{{/member}}",
            "public_members_url": f"{base}/public_members{{/member}}",
            "avatar_url": f"{web}/avatars/u/{org.id}?v=4",
            "description": None,
        }

    def app(self, app: AppRec) -> Json:
        web = self.s.web
        return {
            "id": app.id,
            "client_id": app.client_id,
            "slug": app.slug,
            "node_id": node_id("App", app.id),
            "owner": self.user(app.owner),
            "name": app.name,
            "description": f"{app.name} (GitHub stand-in)",
            "external_url": web,
            "html_url": f"{web}/apps/{app.slug}",
            "created_at": iso(app.created_at),
            "updated_at": iso(app.created_at),
            "permissions": dict(app.permissions),
            "events": list(app.events),
            "installations_count": sum(1 for i in self.s.installations.values() if i.app_id == app.id),
        }

    def installation(self, inst: InstallationRec) -> Json:
        api, web = self.s.api, self.s.web
        app = self.s.apps[inst.app_id]
        account = inst.account
        if account.type == "Organization":
            html = f"{web}/organizations/{account.login}/settings/installations/{inst.id}"
        else:
            html = f"{web}/settings/installations/{inst.id}"
        return {
            "id": inst.id,
            "client_id": app.client_id,
            "account": self.user(account),
            "repository_selection": inst.selection,
            "access_tokens_url": f"{api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{api}/installation/repositories",
            "html_url": html,
            "app_id": inst.app_id,
            "app_slug": app.slug,
            "target_id": account.id,
            "target_type": account.type,
            "permissions": dict(inst.permissions),
            "events": list(inst.events),
            "created_at": iso(inst.created_at),
            "updated_at": iso(inst.created_at),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }

    # ------------------------------------------------------------ repositories

    def repo_api(self, repo: RepoRec) -> str:
        return f"{self.s.api}/repos/{repo.full_name}"

    def repo_web(self, repo: RepoRec) -> str:
        return f"{self.s.web}/{repo.full_name}"

    def repo(self, repo: RepoRec, *, full: bool = False, permissions: dict[str, bool] | None = None) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        host = urlsplit(self.s.web).netloc
        open_count = sum(1 for i in repo.issues.values() if i.state == "open")
        data: Json = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self.user(repo.owner),
            "html_url": w,
            "description": repo.description,
            "fork": False,
            "url": a,
            "forks_url": f"{a}/forks",
            "keys_url": f"{a}/keys{{/key_id}}",
            "collaborators_url": f"{a}/collaborators{{/collaborator}}",
            "teams_url": f"{a}/teams",
            "hooks_url": f"{a}/hooks",
            "issue_events_url": f"{a}/issues/events{{/number}}",
            "events_url": f"{a}/events",
            "assignees_url": f"{a}/assignees{{/user}}",
            "branches_url": f"{a}/branches{{/branch}}",
            "tags_url": f"{a}/tags",
            "blobs_url": f"{a}/git/blobs{{/sha}}",
            "git_tags_url": f"{a}/git/tags{{/sha}}",
            "git_refs_url": f"{a}/git/refs{{/sha}}",
            "trees_url": f"{a}/git/trees{{/sha}}",
            "statuses_url": f"{a}/statuses/{{sha}}",
            "languages_url": f"{a}/languages",
            "stargazers_url": f"{a}/stargazers",
            "contributors_url": f"{a}/contributors",
            "subscribers_url": f"{a}/subscribers",
            "subscription_url": f"{a}/subscription",
            "commits_url": f"{a}/commits{{/sha}}",
            "git_commits_url": f"{a}/git/commits{{/sha}}",
            "comments_url": f"{a}/comments{{/number}}",
            "issue_comment_url": f"{a}/issues/comments{{/number}}",
            "contents_url": f"{a}/contents/{{+path}}",
            "compare_url": f"{a}/compare/{{base}}...{{head}}",
            "merges_url": f"{a}/merges",
            "archive_url": f"{a}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{a}/downloads",
            "issues_url": f"{a}/issues{{/number}}",
            "pulls_url": f"{a}/pulls{{/number}}",
            "milestones_url": f"{a}/milestones{{/number}}",
            "notifications_url": f"{a}/notifications{{?since,all,participating}}",
            "labels_url": f"{a}/labels{{/name}}",
            "releases_url": f"{a}/releases{{/id}}",
            "deployments_url": f"{a}/deployments",
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": f"{w}.git",
            "svn_url": w,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_count,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "forks": 0,
            "open_issues": open_count,
            "watchers": 0,
            "default_branch": repo.default_branch,
        }
        if permissions is not None:
            data["permissions"] = permissions
        if full:
            data.update(
                {
                    "allow_squash_merge": True,
                    "allow_merge_commit": True,
                    "allow_rebase_merge": False,
                    "allow_auto_merge": False,
                    "delete_branch_on_merge": False,
                    "allow_update_branch": False,
                    "use_squash_pr_title_as_default": False,
                    "squash_merge_commit_message": "COMMIT_MESSAGES",
                    "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
                    "merge_commit_message": "PR_TITLE",
                    "merge_commit_title": "MERGE_MESSAGE",
                    "network_count": 0,
                    "subscribers_count": 0,
                }
            )
            if repo.owner.type == "Organization":
                data["organization"] = self.user(repo.owner)
        return data

    @staticmethod
    def permission_flags(role: str) -> dict[str, bool]:
        return {
            "admin": role_at_least(role, "admin"),
            "maintain": role_at_least(role, "maintain"),
            "push": role_at_least(role, "write"),
            "triage": role_at_least(role, "triage"),
            "pull": role_at_least(role, "read"),
        }

    def association(self, repo: RepoRec, login: str) -> str:
        if login.lower() == repo.owner.login.lower():
            return "OWNER"
        if repo.roles.get(login.lower(), "none") != "none":
            return "COLLABORATOR"
        return "NONE"

    # ------------------------------------------------------------ issues and comments

    def label(self, repo: RepoRec, label: LabelRec) -> Json:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.repo_api(repo)}/labels/{quote(label.name, safe='')}",
            "name": label.name,
            "color": label.color,
            "default": label.default,
            "description": label.description,
        }

    def rollup(self, url: str, reactions: Iterable[ReactionRec]) -> Json:
        items = list(reactions)
        data: Json = {"url": url, "total_count": len(items)}
        for content in REACTIONS:
            data[content] = sum(1 for r in items if r.content == content)
        return data

    def reaction(self, reaction: ReactionRec) -> Json:
        return {
            "id": reaction.id,
            "node_id": node_id("Reaction", reaction.id),
            "user": self.login(reaction.user),
            "content": reaction.content,
            "created_at": iso(reaction.created_at),
        }

    def issue_event(self, repo: RepoRec, event: IssueEventRec) -> Json:
        """A `labeled`/`unlabeled` issue event as "List issue events" returns it
        (https://docs.github.com/rest/issues/events#list-issue-events, schema `labeled-issue-event`)."""
        return {
            "id": event.id,
            "node_id": node_id("LabeledEvent" if event.event == "labeled" else "UnlabeledEvent", event.id),
            "url": f"{self.repo_api(repo)}/issues/events/{event.id}",
            "actor": self.login(event.actor),
            "event": event.event,
            "commit_id": None,
            "commit_url": None,
            "created_at": iso(event.created_at),
            "performed_via_github_app": None,
            "label": {"name": event.label, "color": event.color},
        }

    def via_app(self, app_id: int | None) -> Json | None:
        app = self.s.apps.get(app_id) if app_id is not None else None
        return self.app(app) if app is not None else None

    def issue_html(self, repo: RepoRec, issue: IssueRec) -> str:
        kind = "pull" if issue.is_pull else "issues"
        return f"{self.repo_web(repo)}/{kind}/{issue.number}"

    def issue(self, repo: RepoRec, issue: IssueRec, *, single: bool = False) -> Json:
        a = f"{self.repo_api(repo)}/issues/{issue.number}"
        data: Json = {
            "url": a,
            "repository_url": self.repo_api(repo),
            "labels_url": f"{a}/labels{{/name}}",
            "comments_url": f"{a}/comments",
            "events_url": f"{a}/events",
            "html_url": self.issue_html(repo, issue),
            "id": issue.id,
            "node_id": node_id("PullRequest" if issue.is_pull else "Issue", issue.id),
            "number": issue.number,
            "title": issue.title,
            "user": self.login(issue.user),
            "labels": [self.label(repo, repo.labels[key]) for key in issue.labels if key in repo.labels],
            "state": issue.state,
            "locked": issue.locked,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": len(issue.comments),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "author_association": self.association(repo, issue.user),
            "active_lock_reason": None,
            "body": issue.body,
            "reactions": self.rollup(f"{a}/reactions", issue.reactions),
            "timeline_url": f"{a}/timeline",
            "performed_via_github_app": self.via_app(issue.via_app),
            "state_reason": issue.state_reason,
        }
        if issue.is_pull:
            pull = repo.pulls.get(issue.number)
            data["draft"] = bool(pull and pull.draft)
            data["pull_request"] = {
                "url": f"{self.repo_api(repo)}/pulls/{issue.number}",
                "html_url": self.issue_html(repo, issue),
                "diff_url": f"{self.issue_html(repo, issue)}.diff",
                "patch_url": f"{self.issue_html(repo, issue)}.patch",
                "merged_at": iso(pull.merged_at) if pull else None,
            }
        if single:
            data["closed_by"] = self.login(issue.closed_by) if issue.closed_by else None
        return data

    def comment(self, repo: RepoRec, comment: CommentRec) -> Json:
        a = f"{self.repo_api(repo)}/issues/comments/{comment.id}"
        issue = repo.issues[comment.number]
        return {
            "url": a,
            "html_url": f"{self.issue_html(repo, issue)}#issuecomment-{comment.id}",
            "issue_url": f"{self.repo_api(repo)}/issues/{comment.number}",
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "user": self.login(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "author_association": self.association(repo, comment.user),
            "body": comment.body,
            "reactions": self.rollup(f"{a}/reactions", comment.reactions),
            "performed_via_github_app": self.via_app(comment.via_app),
        }

    # ------------------------------------------------------------ git data

    def commit(self, repo: RepoRec, sha: str) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        info = gitops.commit_info(repo.path, sha)

        def person(email: str) -> Json | None:
            for user in self.s.users.values():
                if user.email and user.email.lower() == email.lower():
                    return self.user(user)
            return None

        return {
            "sha": info.sha,
            "node_id": base64.b64encode(f"06:Commit{repo.id}:{info.sha}".encode()).decode(),
            "commit": {
                "author": {"name": info.author_name, "email": info.author_email, "date": info.author_date},
                "committer": {
                    "name": info.committer_name,
                    "email": info.committer_email,
                    "date": info.committer_date,
                },
                "message": info.message,
                "tree": {"sha": info.tree, "url": f"{a}/git/trees/{info.tree}"},
                "url": f"{a}/git/commits/{info.sha}",
                "comment_count": 0,
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "url": f"{a}/commits/{info.sha}",
            "html_url": f"{w}/commit/{info.sha}",
            "comments_url": f"{a}/commits/{info.sha}/comments",
            "author": person(info.author_email),
            "committer": person(info.committer_email),
            "parents": [
                {"sha": parent, "url": f"{a}/commits/{parent}", "html_url": f"{w}/commit/{parent}"}
                for parent in info.parents
            ],
        }

    def ref(self, repo: RepoRec, ref: str, sha: str) -> Json:
        a = self.repo_api(repo)
        kind = "commit"
        if ref.startswith("refs/tags/"):
            kind = gitops.out(repo.path, "cat-file", "-t", sha) or "commit"
        return {
            "ref": ref,
            "node_id": base64.b64encode(f"03:Ref{repo.id}:{ref}".encode()).decode(),
            "url": f"{a}/git/{quote(ref)}",
            "object": {"sha": sha, "type": kind, "url": f"{a}/git/{kind}s/{sha}"},
        }

    def branch(self, repo: RepoRec, name: str, sha: str) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        return {
            "name": name,
            "commit": self.commit(repo, sha),
            "_links": {"self": f"{a}/branches/{quote(name)}", "html": f"{w}/tree/{quote(name)}"},
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
            },
            "protection_url": f"{a}/branches/{quote(name)}/protection",
        }

    def content(self, repo: RepoRec, ref: str, entry: gitops.TreeEntry, *, with_body: bool) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        kind = {"tree": "dir", "commit": "submodule"}.get(entry.type, "file")
        if entry.mode == "120000":
            kind = "symlink"
        path = quote(entry.path)
        self_url = f"{a}/contents/{path}?ref={quote(ref, safe='')}"
        git_url = f"{a}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = f"{w}/{'tree' if kind == 'dir' else 'blob'}/{quote(ref)}/{path}"
        data: Json = {
            "type": kind,
            "size": entry.size if kind == "file" else 0,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": f"{w}/raw/{quote(ref)}/{path}" if kind == "file" else None,
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }
        if kind == "symlink" and with_body:
            data["target"] = gitops.read_blob(repo.path, entry.sha).decode(errors="replace")
            data["size"] = len(data["target"])
        if kind == "file" and with_body:
            if entry.size > 1024 * 1024:
                data.update({"encoding": "none", "content": ""})
            else:
                raw = base64.b64encode(gitops.read_blob(repo.path, entry.sha)).decode()
                lines = [raw[i : i + 60] for i in range(0, len(raw), 60)]
                data.update({"encoding": "base64", "content": "".join(line + "\n" for line in lines)})
        return data

    # ------------------------------------------------------------ pull requests

    def pull(self, repo: RepoRec, pull: PullRec, *, full: bool = True) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        issue = repo.issues[pull.number]
        url = f"{a}/pulls/{pull.number}"
        html = f"{w}/pull/{pull.number}"
        base_sha = pull.base_sha
        if issue.state == "open":
            base_sha = gitops.ref_exists(repo.path, f"refs/heads/{pull.base}") or pull.base_sha
        repo_json = self.repo(repo)
        owner = self.user(repo.owner)
        data: Json = {
            "url": url,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": f"{a}/issues/{pull.number}",
            "number": pull.number,
            "state": issue.state,
            "locked": issue.locked,
            "title": issue.title,
            "user": self.login(issue.user),
            "body": issue.body,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "merged_at": iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": [self.label(repo, repo.labels[key]) for key in issue.labels if key in repo.labels],
            "milestone": None,
            "draft": pull.draft,
            "commits_url": f"{url}/commits",
            "review_comments_url": f"{url}/comments",
            "review_comment_url": f"{a}/pulls/comments{{/number}}",
            "comments_url": f"{a}/issues/{pull.number}/comments",
            "statuses_url": f"{a}/statuses/{pull.head_sha}",
            "head": {
                "label": f"{repo.owner.login}:{pull.head}",
                "ref": pull.head,
                "sha": pull.head_sha,
                "user": owner,
                "repo": repo_json,
            },
            "base": {
                "label": f"{repo.owner.login}:{pull.base}",
                "ref": pull.base,
                "sha": base_sha,
                "user": owner,
                "repo": repo_json,
            },
            "_links": {
                "self": {"href": url},
                "html": {"href": html},
                "issue": {"href": f"{a}/issues/{pull.number}"},
                "comments": {"href": f"{a}/issues/{pull.number}/comments"},
                "review_comments": {"href": f"{url}/comments"},
                "review_comment": {"href": f"{a}/pulls/comments{{/number}}"},
                "commits": {"href": f"{url}/commits"},
                "statuses": {"href": f"{a}/statuses/{pull.head_sha}"},
            },
            "author_association": self.association(repo, issue.user),
            "auto_merge": None,
            "active_lock_reason": None,
        }
        if full:
            data.update(self._pull_stats(repo, pull, issue, base_sha))
        return data

    def _pull_stats(self, repo: RepoRec, pull: PullRec, issue: IssueRec, base_sha: str) -> Json:
        try:
            commits = gitops.count_commits(repo.path, base_sha, pull.head_sha)
            additions, deletions, files = gitops.diff_stats(repo.path, base_sha, pull.head_sha)
            clean = pull.merged or gitops.mergeable(repo.path, base_sha, pull.head_sha)
        except gitops.GitError:
            commits, additions, deletions, files, clean = 0, 0, 0, 0, False
        if pull.merged:
            commits = max(commits, 1)
        if issue.state != "open":
            state = "unknown"
        elif pull.draft:
            state = "draft"
        else:
            state = "clean" if clean else "dirty"
        return {
            "merged": pull.merged,
            "mergeable": (clean if issue.state == "open" else None),
            "rebaseable": False,
            "mergeable_state": state,
            "merged_by": self.login(pull.merged_by) if pull.merged_by else None,
            "comments": len(issue.comments),
            "review_comments": len(pull.review_comments),
            "maintainer_can_modify": pull.maintainer_can_modify,
            "commits": commits,
            "additions": additions,
            "deletions": deletions,
            "changed_files": files,
        }

    def review(self, repo: RepoRec, review: ReviewRec) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        html = f"{w}/pull/{review.number}#pullrequestreview-{review.id}"
        pr_url = f"{a}/pulls/{review.number}"
        return {
            "id": review.id,
            "node_id": node_id("PullRequestReview", review.id),
            "user": self.login(review.user),
            "body": review.body,
            "state": review.state,
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.association(repo, review.user),
            "_links": {"html": {"href": html}, "pull_request": {"href": pr_url}},
            "submitted_at": iso(review.submitted_at),
            "commit_id": review.commit_id,
        }

    def review_comment(self, repo: RepoRec, comment: ReviewCommentRec) -> Json:
        a, w = self.repo_api(repo), self.repo_web(repo)
        url = f"{a}/pulls/comments/{comment.id}"
        html = f"{w}/pull/{comment.number}#discussion_r{comment.id}"
        pr_url = f"{a}/pulls/{comment.number}"
        position = max(len(comment.diff_hunk.splitlines()) - 1, 1)
        data: Json = {
            "url": url,
            "pull_request_review_id": comment.review_id,
            "id": comment.id,
            "node_id": node_id("PullRequestReviewComment", comment.id),
            "diff_hunk": comment.diff_hunk,
            "path": comment.path,
            "position": position,
            "original_position": position,
            "commit_id": comment.commit_id,
            "original_commit_id": comment.commit_id,
            "user": self.login(comment.user),
            "body": comment.body,
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "html_url": html,
            "pull_request_url": pr_url,
            "author_association": self.association(repo, comment.user),
            "_links": {"self": {"href": url}, "html": {"href": html}, "pull_request": {"href": pr_url}},
            "start_line": None,
            "original_start_line": None,
            "start_side": None,
            "line": comment.line,
            "original_line": comment.line,
            "side": comment.side,
            "subject_type": "line",
            "reactions": self.rollup(f"{url}/reactions", comment.reactions),
        }
        if comment.in_reply_to is not None:
            data["in_reply_to_id"] = comment.in_reply_to
        return data
