"""A test double of the Jenkins controller's REST API, served over a real socket.

This is NOT Jenkins. It plays the parts of the controller that mlci and python-jenkins 1.8.3
talk to, as described in /work/shared/reference/jenkins-api.md, so the CLI can be tested end to
end over HTTP (python-jenkins -> requests -> socket -> this server):

- Basic auth with a password or an API token; a bad one gets 401 with `WWW-Authenticate`,
  anonymous gets 403; three roles (admin, developer, viewer) whose missing permissions give 403.
- CSRF crumbs bound to the session cookie of the crumb request; POSTs authenticated with an API
  token and `/pipeline-model-converter/*` are exempt. GET on a POST-only endpoint: 405.
- `X-Jenkins`, `X-Jenkins-Session`, `X-Content-Type-Options` on every answer.
- `/api/json` (root, jobs, builds, queue items, credentials) honouring `tree=` and `depth=`.
- createItem (XML body or form `mode=`) with the 400 `X-Error` answers, folders and nested jobs,
  multibranch projects (indexing creates branch jobs from a scripted branch list), config.xml
  round trips.
- buildWithParameters/build: 201 + absolute queue `Location`, 303 for an identical queued item,
  400 not parameterized, 409 not buildable (disabled); `build` on a parameterised job needs a
  submitted form (`json`), else 400 "Nothing is submitted". Queue items move from WaitingItem
  to LeftItem with `executable`; under a DisableConcurrentBuildsJobProperty a second build
  waits as a BlockedItem until the running one ends, and with `abortPrevious` queueing one
  aborts the running build.
- Builds run a scripted sequence of stages in a thread (log lines, durations, stage results, an
  optional `input` pause), with progressive text (`X-Text-Size`, `X-More-Data`), consoleText,
  `wfapi/describe`, `wfapi/pendingInputActions`, input proceed/proceedEmpty/abort/inputSubmit
  with the Id rule (capitalised lowercase MD5 of the message without an id), submitter checks,
  abort with Job/Cancel, 500 for an unknown parameter name and "already given"; the values an
  input sets (its parameters, `submitterParameter`: the submitter after `proceed`, the string
  "null" after `proceedEmpty`) go into the build's `env`, which `$NAME` in log lines expands;
  `stop`.
- createItem refuses a root element whose class no installed plugin provides (400).
- Declarative's rewrite of config.xml (parameters, disableConcurrentBuilds, cron) when a build
  of a job registered with `declare(job, jenkinsfile)` starts (declarative.py), also for a
  Jenkinsfile that calls the mlci shared library (`@Library` resolved against JCasC's
  `globalLibraries`, `legacySCM(scm)` against the job's checkout: the step's pipeline runs).
- Credentials in the system store and folder stores: create (409 duplicate, 400 without content
  type), config.xml with `<secret-redacted/>`, update keeping redacted secrets, delete.
- Both declarative linter endpoints.
- `pluginManager/api/json`.

What it does NOT model (differences from a real controller):
- It runs no Groovy. Builds follow the test's script, not the Jenkinsfile; only the job
  properties of a `declare`d Jenkinsfile are applied; `when`, `timeout`, `lock`, `milestone`
  and `post` have no effect here.
- The linter is a light structural check (balanced braces, `pipeline` block, required and known
  top-level sections, each stage has steps/stages/parallel/matrix). It does not know steps,
  their arguments, or Groovy syntax errors beyond brace balance.
- Stored config.xml is returned as posted (plus an XML declaration); Jenkins re-serialises it,
  adding defaults and `plugin="…"` attributes.
- No views, agents or executor limits (casc.py only records the nodes JCasC defines), quiet
  periods, SCM polling, artifacts content, test reports, matrix authorisation per item, user
  API to mint tokens, or LeftItem expiry.
- Permissions are three fixed roles rather than a matrix; admins may answer any input.
- Fault injection (`inject`, `slow`) stands in for proxies and overloaded controllers.
- Header values outside Latin-1 (the ‘quotes’ in `X-Error`) are sent as UTF-8 bytes.

Test-control API (Python, not HTTP): `add_user`, `script`, `set_branches`, `set_plugins`,
`inject`, `slow`, `wait_for_build`, `wait_for_input`, `writes`, `credential_secret`, `job_config`,
`declare`.

Layout (one module per area; `JenkinsDouble` in server.py combines the mixins):
common.py (constants, replies, users, `tree=`), jobs.py (items, createItem, config.xml, job
JSON), queue.py (build/buildWithParameters, queue items, indexing), builds.py (scripted builds,
logs, wfapi, stop), inputs.py (input Id, pending actions, proceed/abort), credentials.py
(credential stores), casc.py (a JCasC apply: global store replacement, nodes, global env),
linter.py (declarative linter), declarative.py (what Declarative writes into config.xml),
server.py (HTTP, auth, crumbs, routing).
To extend it, add a module with a mixin and hook it into `JenkinsDouble` in server.py.
"""

from tests.jenkins.double.builds import DEFAULT_SCRIPT, Build, BuildScript, StageRun, StageScript
from tests.jenkins.double.common import HttpError, Reply, User
from tests.jenkins.double.credentials import Credential
from tests.jenkins.double.inputs import InputSpec, PendingInput
from tests.jenkins.double.jobs import Item
from tests.jenkins.double.linter import declarative_errors
from tests.jenkins.double.queue import QueueItem
from tests.jenkins.double.server import JenkinsDouble

__all__ = [
    "DEFAULT_SCRIPT",
    "Build",
    "BuildScript",
    "Credential",
    "HttpError",
    "InputSpec",
    "Item",
    "JenkinsDouble",
    "PendingInput",
    "QueueItem",
    "Reply",
    "StageRun",
    "StageScript",
    "User",
    "declarative_errors",
]
