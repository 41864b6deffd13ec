// The triage thresholds page (SPEC §6.6): a thin client of the admin JSON API.
//
// Sign-in: a bearer token pasted into the form or passed in the URL fragment
// (`/admin/triage#token=...`), kept in sessionStorage (this tab only) and removed from the
// address bar at once. Every call sends it as `Authorization: Bearer`; a 401 asks for a
// token again, a 403 says plainly that the role is not allowed. The server validates every
// value (all or nothing); its 422 errors are shown next to their fields, nothing here
// second-guesses its rules. Data from the server reaches the page through textContent only.
"use strict";

(() => {
  const API = "/api/v1/admin";
  const TOKEN_KEY = "admin-core.token";
  const TENANT_KEY = "admin-core.triage.tenant";
  const WORDS = { mso: "MSO", pfs: "PFS", id: "ID" };
  const TENANT_PAGE = 200; // the API's largest page
  const MAX_TENANT_PAGES = 50;
  const TIMEOUT_SECONDS = 30; // a call still unanswered then is given up, and said so

  const byId = (id) => document.getElementById(id);
  const ui = {
    alert: byId("alert"),
    status: byId("status"),
    session: byId("session"),
    sessionWho: byId("session-who"),
    signOut: byId("sign-out"),
    signIn: byId("sign-in"),
    signInForm: byId("sign-in-form"),
    token: byId("token"),
    tokenError: byId("token-error"),
    workspace: byId("workspace"),
    tenant: byId("tenant"),
    stale: byId("stale"),
    form: byId("thresholds-form"),
    summary: byId("error-summary"),
    errorList: byId("error-list"),
    thresholds: byId("thresholds"),
    reason: byId("reason"),
    reasonError: byId("reason-error"),
    save: byId("save"),
    reset: byId("reset"),
  };

  const state = {
    token: null,
    tenants: [],
    data: null, // the last thresholds answer: {tenant_id, thresholds, stale}
    ticket: 0, // the latest load; older answers are dropped
    busy: false,
    kept: null, // what was typed when the token was refused: {tenantId, typed, reason}
  };

  // ---------------------------------------------------------------- storage and the token

  const memory = new Map();
  const store = {
    get(key) {
      try {
        return window.sessionStorage.getItem(key);
      } catch {
        return memory.has(key) ? memory.get(key) : null;
      }
    },
    set(key, value) {
      try {
        window.sessionStorage.setItem(key, value);
      } catch {
        memory.set(key, value);
      }
    },
    remove(key) {
      try {
        window.sessionStorage.removeItem(key);
      } catch {
        /* storage unavailable: the in-memory copy is all there is */
      }
      memory.delete(key);
    },
  };

  /** A pasted token without "Bearer " or white space; null when it cannot be one. */
  function cleanToken(raw) {
    const token = String(raw || "")
      .trim()
      .replace(/^bearer\s+/i, "")
      .replace(/\s+/g, "");
    return /^[A-Za-z0-9._~+/=-]{10,8192}$/.test(token) ? token : null;
  }

  /** Move a `#token=...` fragment into sessionStorage and out of the address bar (and of
   * the history entry), keeping any other fragment parameters. */
  function takeTokenFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    if (!params.has("token")) return;
    const token = cleanToken(params.get("token"));
    params.delete("token");
    const rest = params.toString();
    const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
    window.history.replaceState(window.history.state, "", url);
    if (token) store.set(TOKEN_KEY, token);
    else showAlert("The link's token is not a token. Paste one below.");
  }

  /** Who the token says it is, for display only (the server verifies it). */
  function describeToken(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(window.atob(part.padEnd(Math.ceil(part.length / 4) * 4, "=")));
      const org = claims.o && typeof claims.o === "object" ? claims.o : {};
      const role = claims.org_role || (org.rol ? `org:${org.rol}` : "no role");
      const orgId = claims.org_id || org.id || "no organisation";
      const parts = [`Signed in as ${claims.sub || "unknown user"}`, `${role} in ${orgId}`];
      if (typeof claims.exp === "number") {
        const until = new Date(claims.exp * 1000);
        parts.push(`until ${until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`);
      }
      return parts.join(" · ");
    } catch {
      return "Signed in";
    }
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, errors, requestId) {
      super(errors.map((e) => e.message).join("; "));
      this.status = status;
      this.errors = errors;
      this.requestId = requestId;
    }

    get code() {
      return this.errors.length ? this.errors[0].code : "";
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${state.token}` };
    const init = { method, headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const controller = new AbortController();
    init.signal = controller.signal;
    const timer = window.setTimeout(() => controller.abort(), TIMEOUT_SECONDS * 1000);
    const unanswered = () =>
      controller.signal.aborted
        ? { code: "TIMEOUT", message: `The server did not answer within ${TIMEOUT_SECONDS} s.` }
        : { code: "NETWORK", message: "The server could not be reached." };
    let response;
    let payload = null;
    try {
      try {
        response = await window.fetch(API + path, init);
      } catch {
        throw new ApiError(0, [unanswered()]);
      }
      try {
        payload = await response.json();
      } catch {
        if (controller.signal.aborted) throw new ApiError(0, [unanswered()]);
        payload = null;
      }
    } finally {
      window.clearTimeout(timer);
    }
    if (response.ok && payload && payload.success === true) return payload.data;
    const errors =
      payload && Array.isArray(payload.errors) && payload.errors.length
        ? payload.errors
        : [{ code: `HTTP_${response.status}`, message: response.statusText || "No answer." }];
    const requestId = payload && payload.meta ? payload.meta.request_id : null;
    throw new ApiError(response.status, errors, requestId);
  }

  // ---------------------------------------------------------------- messages

  function showAlert(text) {
    ui.alert.textContent = text;
    ui.alert.hidden = false;
  }

  /** A failed load, with a button that makes the same call again. */
  function showFailure(error, retry) {
    showAlert(describeFailure(error));
    const again = node("button", { type: "button", className: "secondary retry" }, "Try again");
    again.addEventListener("click", () => {
      clearMessages();
      retry();
      // The button goes with the alert: the focus goes to the picker whose load it retries
      // (disabled while the tenants load, it takes the focus once they are there).
      ui.tenant.focus();
    });
    ui.alert.append(" ", again);
  }

  // The status region is never hidden, only empty: a screen reader announces what is written
  // into a live region it already knows, not one that appears with its text.
  function showStatus(text) {
    ui.status.textContent = text;
  }

  function clearMessages() {
    ui.alert.hidden = true;
    ui.alert.textContent = "";
    ui.status.textContent = "";
  }

  function withRequestId(text, error) {
    return error.requestId ? `${text} (request id ${error.requestId})` : text;
  }

  /** What every failed call has in common; true when it was handled here. */
  function handleCommonError(error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 401) {
      // A session token lives a minute or so: what was typed waits for the next one.
      const kept = keepTyped();
      signOut(
        `Sign in again: the server refused the token (${error.code}: ${error.errors[0].message})` +
          (kept ? ". Your unsaved changes are kept: they come back once you sign in." : ""),
      );
      state.kept = kept;
      return true;
    }
    if (error.status === 403) {
      notAllowed(error);
      return true;
    }
    return false;
  }

  function notAllowed(error) {
    const first = error.errors[0];
    const details = first.details && typeof first.details === "object" ? first.details : {};
    const permission = details.permission || "tenant:manage";
    showAlert(
      withRequestId(
        "Not allowed: your role may not see or change triage thresholds here. They need the " +
          `${permission} permission for the tenant. (${error.code}: ${first.message}) ` +
          "Sign out and sign in with a token of a role that has it.",
        error,
      ),
    );
    ui.alert.focus();
  }

  function describeFailure(error) {
    if (error.status === 0) {
      return `${error.errors[0].message} Check that it is running, then try again.`;
    }
    const lines = error.errors.map((e) => `${e.code}: ${e.message}`).join("; ");
    return withRequestId(`The request failed (HTTP ${error.status}). ${lines}`, error);
  }

  // ---------------------------------------------------------------- signing in and out

  function signIn(token) {
    state.token = token;
    store.set(TOKEN_KEY, token);
    ui.sessionWho.textContent = describeToken(token);
    ui.session.hidden = false;
    ui.signIn.hidden = true;
    ui.token.value = "";
    setTokenError(null);
    ui.workspace.hidden = false;
    loadTenants();
  }

  /** What was typed and not saved (values and reason), to put back after signing in. */
  function keepTyped() {
    if (!hasUnsavedEdits()) return null;
    return { tenantId: state.data.tenant_id, typed: typedElsewhere({}), reason: ui.reason.value };
  }

  function onSignOutClick() {
    if (hasUnsavedEdits() && !window.confirm("Sign out and discard the changes not saved?")) {
      return;
    }
    ui.reason.value = "";
    signOut(null);
  }

  function signOut(message) {
    state.token = null;
    state.kept = null;
    state.tenants = [];
    state.data = null;
    state.ticket += 1;
    store.remove(TOKEN_KEY);
    ui.session.hidden = true;
    ui.workspace.hidden = true;
    ui.form.hidden = true;
    ui.stale.hidden = true;
    ui.thresholds.replaceChildren();
    clearMessages();
    ui.signIn.hidden = false;
    if (message) {
      setTokenError(message);
    } else {
      setTokenError(null);
      showStatus("Signed out. The token was removed from this tab.");
    }
    ui.token.focus();
  }

  function setTokenError(message) {
    ui.tokenError.hidden = !message;
    ui.tokenError.textContent = "";
    if (message) ui.tokenError.append(errorPrefix(), message);
    setInvalid(ui.token, message ? "token-error" : null);
  }

  function onSignInSubmit(event) {
    event.preventDefault();
    clearMessages();
    const token = cleanToken(ui.token.value);
    if (!token) {
      setTokenError("Paste a session token (three parts separated by dots).");
      ui.token.focus();
      return;
    }
    signIn(token);
  }

  // ---------------------------------------------------------------- tenants

  async function loadTenants() {
    const ticket = ++state.ticket;
    ui.tenant.disabled = true;
    try {
      const tenants = [];
      // Each page after the first starts right after the one before (its `next_cursor`):
      // a tenant created meanwhile cannot make the picker list one twice or miss one.
      let cursor = null;
      for (let page = 0; page < MAX_TENANT_PAGES; page += 1) {
        const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
        const data = await api("GET", `/tenants?limit=${TENANT_PAGE}${after}`);
        const items = Array.isArray(data.tenants) ? data.tenants : [];
        tenants.push(...items);
        cursor = typeof data.next_cursor === "string" && data.next_cursor ? data.next_cursor : null;
        if (!cursor || !items.length) break;
      }
      if (ticket !== state.ticket) return;
      state.tenants = tenants;
    } catch (error) {
      if (ticket !== state.ticket) return;
      if (!handleCommonError(error)) showFailure(error, loadTenants);
      return;
    } finally {
      ui.tenant.disabled = false;
    }
    const options = [new Option("Choose a tenant…", "")];
    for (const tenant of state.tenants) {
      const suspended = tenant.status && tenant.status !== "active" ? ` — ${tenant.status}` : "";
      // The id first: a tenant's name is its admins' to choose, and cannot push the id out of view.
      options.push(new Option(`${tenant.id} — ${tenant.name || tenant.id}${suspended}`, tenant.id));
    }
    ui.tenant.replaceChildren(...options);
    if (!state.tenants.length) {
      showAlert("This token reaches no tenant.");
      return;
    }
    // Signing in hides the button that had the focus: it goes to what comes next, not to
    // the top of the page.
    const active = document.activeElement;
    if (!active || active === document.body) ui.tenant.focus();
    const remembered = store.get(TENANT_KEY);
    const pick =
      state.tenants.length === 1
        ? state.tenants[0].id
        : state.tenants.some((t) => t.id === remembered)
          ? remembered
          : "";
    if (pick) {
      ui.tenant.value = pick;
      loadThresholds(pick);
    }
  }

  /** How messages name a tenant: its id, then its name. */
  function tenantLabel(tenantId) {
    const tenant = state.tenants.find((t) => t.id === tenantId);
    return tenant && tenant.name ? `${tenantId} (${tenant.name})` : tenantId;
  }

  /** Values typed and not saved yet (the reason alone is not a change). */
  function hasUnsavedEdits() {
    if (!state.data || ui.form.hidden) return false;
    return state.data.thresholds.some((threshold) => {
      const read = readValue(threshold);
      return !read.ok || !sameValue(read.value, threshold.value);
    });
  }

  function onTenantChange() {
    const tenantId = ui.tenant.value;
    const shownId = state.data ? state.data.tenant_id : "";
    if (
      tenantId !== shownId &&
      hasUnsavedEdits() &&
      !window.confirm(`Discard the changes not saved for ${tenantLabel(shownId)}?`)
    ) {
      ui.tenant.value = shownId;
      return;
    }
    clearMessages();
    if (!tenantId) {
      state.ticket += 1;
      state.data = null;
      ui.form.hidden = true;
      ui.stale.hidden = true;
      store.remove(TENANT_KEY);
      return;
    }
    store.set(TENANT_KEY, tenantId);
    loadThresholds(tenantId);
  }

  // ---------------------------------------------------------------- thresholds

  async function loadThresholds(tenantId) {
    const ticket = ++state.ticket;
    // The previous tenant's form goes at once: nothing typed while this one loads can be
    // saved to a tenant the picker no longer shows.
    state.data = null;
    ui.form.hidden = true;
    ui.stale.hidden = true;
    showStatus(`Loading the thresholds of ${tenantLabel(tenantId)}…`);
    ui.form.setAttribute("aria-busy", "true");
    try {
      const data = await api("GET", `/triage/thresholds?tenant_id=${encodeURIComponent(tenantId)}`);
      if (ticket !== state.ticket) return;
      clearMessages();
      render(data);
    } catch (error) {
      if (ticket !== state.ticket) return;
      clearMessages();
      if (!handleCommonError(error)) showFailure(error, () => loadThresholds(tenantId));
    } finally {
      if (ticket === state.ticket) ui.form.removeAttribute("aria-busy");
    }
  }

  function render(data) {
    state.data = data;
    clearFieldErrors();
    ui.stale.hidden = !data.stale;
    ui.thresholds.replaceChildren(...data.thresholds.map(renderThreshold));
    ui.form.hidden = false;
    const kept = state.kept;
    if (kept && kept.tenantId === data.tenant_id) {
      state.kept = null;
      restoreTyped(kept.typed);
      ui.reason.value = kept.reason;
      showStatus(
        kept.note || "Your changes not saved before signing in again are back: review them and save.",
      );
    }
  }

  function humanName(name) {
    const words = String(name)
      .split("_")
      .map((w) => WORDS[w] || w);
    const text = words.join(" ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function fieldId(name) {
    return `t-${String(name).replace(/[^A-Za-z0-9_-]/g, "-")}`;
  }

  function kindOf(threshold) {
    const allowed = Array.isArray(threshold.allowed) ? threshold.allowed : [];
    if (threshold.type === "int" || threshold.type === "float") return "number";
    if (threshold.type === "json" && allowed.length) return "choices";
    if (threshold.type === "bool") return "bool";
    if (threshold.type === "string") return "text";
    return "json";
  }

  // The arrow keys' step where the catalogue gives none: a hundredth of a float's range
  // (0.01 on 0..1), never the browser's 1, which jumps a 0..1 threshold to an end at once.
  function defaultStep(threshold) {
    if (threshold.type === "int") return 1;
    const span = Number(threshold.max) - Number(threshold.min);
    return Number.isFinite(span) && span > 0 ? span / 100 : 0.01;
  }

  function shown(value) {
    if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
    if (value === null || value === undefined) return "none";
    if (typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function node(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") element.className = value;
      else element.setAttribute(key, value === true ? "" : String(value));
    }
    element.append(...children.filter((c) => c !== null && c !== undefined));
    return element;
  }

  function facts(threshold, kind) {
    const parts = [`Default: ${shown(threshold.default)}`];
    if (kind === "number") {
      const low = threshold.min;
      const high = threshold.max;
      if (low !== null && low !== undefined && high !== null && high !== undefined) {
        parts.push(`range ${low} to ${high}`);
      } else if (low !== null && low !== undefined) {
        parts.push(`at least ${low}`);
      } else if (high !== null && high !== undefined) {
        parts.push(`at most ${high}`);
      }
      if (threshold.step !== null && threshold.step !== undefined) {
        parts.push(`step ${threshold.step}`);
      } else if (threshold.type === "int") {
        parts.push("whole numbers");
      }
    }
    if (kind === "choices") {
      const items = Array.isArray(threshold.default) ? threshold.default : [];
      parts[0] = `Default: ${items.length ? items.map(humanName).join(", ") : "none"}`;
      parts.push(`any of ${threshold.allowed.length} values`);
    }
    if (threshold.unit) parts.push(`unit: ${threshold.unit}`);
    return parts.join(" · ");
  }

  function renderThreshold(threshold) {
    const name = threshold.name;
    const id = fieldId(name);
    const kind = kindOf(threshold);
    const label = humanName(name);
    const describedBy = `${id}-status ${id}-hint ${id}-facts`;
    const badge = node(
      "span",
      { className: threshold.overridden ? "badge badge-overridden" : "badge", id: `${id}-status` },
      threshold.overridden ? "Overridden for this tenant" : "Default value",
    );
    const hint = node(
      "p",
      { className: "hint", id: `${id}-hint` },
      threshold.description || "",
      " ",
      node("code", {}, name),
    );
    const factLine = node("p", { className: "facts", id: `${id}-facts` }, facts(threshold, kind));
    const error = node("p", { className: "error", id: `${id}-error`, hidden: true });

    let control;
    let heading;
    if (kind === "choices") {
      const values = Array.isArray(threshold.value) ? threshold.value.map(String) : [];
      const items = [...threshold.allowed.map(String)];
      for (const extra of values) if (!items.includes(extra)) items.push(extra);
      const boxes = items.map((item, index) => {
        const boxId = `${id}-${index}`;
        return node(
          "div",
          { className: "choice" },
          node("input", {
            type: "checkbox",
            id: boxId,
            name,
            value: item,
            checked: values.includes(item),
            "data-field": name, // described by the group; by its error too when there is one
          }),
          node("label", { for: boxId }, humanName(item)),
        );
      });
      control = node("div", { className: "choices" }, ...boxes);
      heading = [node("legend", {}, label), badge];
    } else {
      const attributes = {
        id,
        name,
        "aria-describedby": describedBy,
        "data-field": name,
      };
      if (kind === "number") {
        Object.assign(attributes, {
          type: "number",
          inputmode: threshold.type === "int" ? "numeric" : "decimal",
          min: threshold.min,
          max: threshold.max,
          step: threshold.step ?? defaultStep(threshold),
          value: shown(threshold.value),
        });
        control = node("input", attributes);
      } else if (kind === "bool") {
        control = node("input", { ...attributes, type: "checkbox", checked: threshold.value });
      } else if (kind === "text") {
        control = node("input", { ...attributes, type: "text", value: shown(threshold.value) });
      } else {
        control = node("textarea", { ...attributes, rows: 3, spellcheck: "false" });
        control.value = JSON.stringify(threshold.value);
      }
      heading = [node("label", { for: id }, label), badge];
    }

    const actions = node("div", { className: "threshold-actions" });
    if (threshold.overridden) {
      const clear = node(
        "button",
        { type: "button", className: "secondary", "data-clear": name },
        "Clear override",
        node("span", { className: "visually-hidden" }, ` of ${label}`),
      );
      clear.addEventListener("click", () => clearOverride(threshold));
      actions.append(clear);
    }
    const edited = node("span", { className: "edited", id: `${id}-edited`, hidden: true });
    edited.textContent = "Edited, not saved";
    actions.append(edited);

    const parts = [...heading, hint, factLine, error, control, actions];
    const wrapper =
      kind === "choices"
        ? node("fieldset", { className: "threshold", "aria-describedby": describedBy }, ...parts)
        : node("div", { className: "threshold" }, ...parts);
    wrapper.dataset.name = name;
    wrapper.addEventListener("input", () => markEdited(threshold));
    wrapper.addEventListener("change", () => markEdited(threshold));
    return wrapper;
  }

  function controlsOf(threshold) {
    return Array.from(ui.thresholds.querySelectorAll("[data-field]")).filter(
      (element) => element.dataset.field === threshold.name,
    );
  }

  /** The value the form holds for `threshold`: {ok, value} or {ok: false, message}. */
  function readValue(threshold) {
    const controls = controlsOf(threshold);
    const kind = kindOf(threshold);
    if (kind === "choices") {
      return { ok: true, value: controls.filter((c) => c.checked).map((c) => c.value) };
    }
    const [control] = controls;
    if (kind === "bool") return { ok: true, value: control.checked };
    if (kind === "text") return { ok: true, value: control.value };
    if (kind === "json") {
      try {
        return { ok: true, value: JSON.parse(control.value) };
      } catch {
        return { ok: false, message: "is not valid JSON" };
      }
    }
    const raw = control.value.trim();
    if (raw === "" || !Number.isFinite(Number(raw))) {
      return { ok: false, message: "must be a number" };
    }
    return { ok: true, value: Number(raw) };
  }

  function sameValue(a, b) {
    if (Array.isArray(a) && Array.isArray(b)) {
      const left = [...a].map(String).sort();
      const right = [...b].map(String).sort();
      return left.length === right.length && left.every((v, i) => v === right[i]);
    }
    if (typeof a === "number" && typeof b === "number") return a === b;
    return JSON.stringify(a) === JSON.stringify(b);
  }

  function markEdited(threshold) {
    const read = readValue(threshold);
    const edited = !read.ok || !sameValue(read.value, threshold.value);
    byId(`${fieldId(threshold.name)}-edited`).hidden = !edited;
  }

  // ---------------------------------------------------------------- errors in the form

  function errorPrefix() {
    return node("span", { className: "visually-hidden" }, "Error: ");
  }

  /** Mark `element` invalid and describe it by `errorId` too, or undo both (errorId null). */
  function setInvalid(element, errorId) {
    const ids = (element.getAttribute("aria-describedby") || "")
      .split(/\s+/)
      .filter((v) => v && !v.endsWith("-error"));
    if (errorId) {
      ids.push(errorId);
      element.setAttribute("aria-invalid", "true");
    } else {
      element.removeAttribute("aria-invalid");
    }
    if (ids.length) element.setAttribute("aria-describedby", ids.join(" "));
    else element.removeAttribute("aria-describedby");
  }

  function clearFieldErrors() {
    ui.summary.hidden = true;
    ui.errorList.replaceChildren();
    for (const error of ui.form.querySelectorAll(".error")) {
      error.hidden = true;
      error.textContent = "";
    }
    for (const element of ui.form.querySelectorAll("[aria-invalid]")) setInvalid(element, null);
    for (const wrapper of ui.form.querySelectorAll(".threshold.has-error")) {
      wrapper.classList.remove("has-error");
    }
    ui.reason.closest(".field").classList.remove("has-error");
  }

  /** Where an error with `field` is shown: {label, errorElement, controls, wrapper}. */
  function targetOf(field) {
    if (field === "reason") {
      return {
        label: "Reason",
        errorElement: ui.reasonError,
        controls: [ui.reason],
        wrapper: ui.reason.closest(".field"),
      };
    }
    const match = /^values\.(.+)$/.exec(field || "");
    if (!match || !state.data) return null;
    const threshold = state.data.thresholds.find((t) => t.name === match[1]);
    if (!threshold) return null;
    const id = fieldId(threshold.name);
    return {
      label: humanName(threshold.name),
      errorElement: byId(`${id}-error`),
      controls: controlsOf(threshold),
      wrapper: byId(`${id}-error`).closest(".threshold"),
    };
  }

  /** The server's message, but for a missing reason (its message then speaks of types). */
  function friendlier(error) {
    if (error.field === "reason" && !ui.reason.value.trim()) {
      return "Enter a reason for the change: it is kept in the audit log.";
    }
    return error.message || error.code;
  }

  /** Show `errors` ({code, message, field}) next to their fields and in the summary, then
   * move the focus to the first field in error (the summary when none is a field). */
  function showFieldErrors(errors) {
    clearFieldErrors();
    const items = [];
    const targets = [];
    for (const error of errors) {
      const target = targetOf(error.field);
      const message = friendlier(error);
      if (target) {
        target.errorElement.hidden = false;
        if (target.errorElement.textContent) target.errorElement.append(" ");
        else target.errorElement.append(errorPrefix());
        target.errorElement.append(message);
        target.wrapper.classList.add("has-error");
        for (const control of target.controls) setInvalid(control, target.errorElement.id);
        targets.push(target);
        const link = node("a", { href: `#${target.controls[0].id}` }, `${target.label}: ${message}`);
        link.addEventListener("click", (event) => {
          event.preventDefault();
          target.controls[0].focus();
        });
        items.push(node("li", {}, link));
      } else {
        const where = error.field ? `${error.field}: ` : "";
        items.push(node("li", {}, `${where}${message}`));
      }
    }
    ui.errorList.replaceChildren(...items);
    ui.summary.hidden = false;
    const fields = Array.from(ui.form.querySelectorAll("[aria-invalid='true']"));
    if (fields.length) fields[0].focus();
    else ui.summary.focus();
  }

  // ---------------------------------------------------------------- saving

  function setBusy(busy) {
    state.busy = busy;
    ui.save.disabled = busy;
    ui.reset.disabled = busy;
    ui.tenant.disabled = busy;
    for (const button of ui.thresholds.querySelectorAll("button")) button.disabled = busy;
    // The fields hold what is being saved, and the answer replaces them: what was typed
    // meanwhile would be lost without a word, so nothing can be typed until it comes.
    for (const control of ui.form.querySelectorAll("input, textarea")) {
      if (control.type === "checkbox" || control.type === "radio") control.disabled = busy;
      else control.readOnly = busy;
    }
    if (busy) ui.form.setAttribute("aria-busy", "true");
    else ui.form.removeAttribute("aria-busy");
  }

  /** PUT `values` with the reason; `describe(after)` says what was saved, and the focus
   * returns to where it was (or to `focusName`'s field when that control is gone). Values
   * typed in other fields and not sent stay as typed. */
  async function put(values, describe, focusName) {
    const data = state.data;
    if (!data || state.busy) return;
    const tenantId = data.tenant_id;
    const focused = document.activeElement;
    const typed = typedElsewhere(values);
    setBusy(true);
    showStatus(`Saving for ${tenantLabel(tenantId)}…`);
    try {
      // What this page shows of each: a change someone made since is refused (409), never
      // saved over.
      const expected = {};
      for (const threshold of data.thresholds) {
        if (threshold.name in values) expected[threshold.name] = threshold.value;
      }
      const body = { tenant_id: tenantId, values, expected, reason: ui.reason.value.trim() };
      const saved = await api("PUT", "/triage/thresholds", body);
      if (!state.data || state.data.tenant_id !== tenantId) return;
      render(saved);
      restoreTyped(typed);
      ui.reason.value = "";
      showStatus(describe(saved.thresholds) + changedMeanwhile(data, saved, values));
      ui.status.scrollIntoView({ block: "nearest" });
    } catch (error) {
      clearMessages(); // "Saving…"
      if (error.status === 0) {
        // The request may have reached the server and been saved, only its answer lost.
        showFailureOf(
          "No answer came back, so this page cannot tell whether the change was saved. " +
            "Saving again is safe: a change already made is not made twice, and one " +
            "someone else made meanwhile is not saved over.",
        );
        focusName = null;
        return;
      }
      if (handleCommonError(error)) return;
      if (error.status === 422) {
        showFieldErrors(error.errors);
      } else if (error.code === "TRIAGE_THRESHOLDS_CHANGED") {
        focusName = null;
        await reloadChanged(tenantId, error);
      } else {
        showFailureOf(describeFailure(error));
        focusName = null;
      }
    } finally {
      setBusy(false);
      restoreFocus(focused, focusName);
    }
  }

  /** The thresholds not saved here whose value `after` differs from what the page showed
   * (`before`): another operator changed them meanwhile, and the page now shows their value,
   * so it says so rather than changing them silently. */
  function changedMeanwhile(before, after, values) {
    const changes = [];
    for (const threshold of after.thresholds) {
      const was = before.thresholds.find((t) => t.name === threshold.name);
      if (threshold.name in values || !was || sameValue(was.value, threshold.value)) continue;
      changes.push(
        `${humanName(threshold.name)} is now ${shown(threshold.value)} (was ${shown(was.value)})`,
      );
    }
    if (!changes.length) return "";
    return ` Changed by someone else since this page read them: ${changes.join("; ")}.`;
  }

  /** A save that failed: the alert, in view and focused. */
  function showFailureOf(text) {
    showAlert(text);
    ui.alert.scrollIntoView({ block: "nearest" });
    ui.alert.focus();
  }

  /** Someone changed what this page shows: read it again, with what was typed on top. */
  async function reloadChanged(tenantId, error) {
    const kept = keepTyped();
    state.kept = kept && {
      ...kept,
      note: "Your values are back over the new ones: check them, then save again.",
    };
    await loadThresholds(tenantId);
    showAlert(withRequestId(`Not saved: someone else changed it. ${error.errors[0].message}`, error));
    ui.alert.focus();
  }

  /** The raw contents of the edited fields not among `values`, by threshold. */
  function typedElsewhere(values) {
    const typed = new Map();
    for (const threshold of state.data.thresholds) {
      if (threshold.name in values) continue;
      const read = readValue(threshold);
      if (read.ok && sameValue(read.value, threshold.value)) continue;
      typed.set(
        threshold.name,
        controlsOf(threshold).map((c) => (c.type === "checkbox" || c.type === "radio" ? c.checked : c.value)),
      );
    }
    return typed;
  }

  function restoreTyped(typed) {
    for (const threshold of state.data.thresholds) {
      const contents = typed.get(threshold.name);
      if (!contents) continue;
      controlsOf(threshold).forEach((control, index) => {
        if (control.type === "checkbox" || control.type === "radio") control.checked = contents[index];
        else control.value = contents[index];
      });
      markEdited(threshold);
    }
  }

  /** Disabling a focused button drops the focus to the page; put it back. */
  function restoreFocus(focused, focusName) {
    const active = document.activeElement;
    if (active && active !== document.body) return;
    if (focused && focused.isConnected) {
      focused.focus();
      return;
    }
    const threshold = focusName && state.data && state.data.thresholds.find((t) => t.name === focusName);
    const [control] = threshold ? controlsOf(threshold) : [];
    if (control) control.focus();
  }

  function onSave(event) {
    event.preventDefault();
    clearMessages();
    clearFieldErrors();
    if (!state.data) return;
    const values = {};
    const problems = [];
    for (const threshold of state.data.thresholds) {
      const read = readValue(threshold);
      if (!read.ok) problems.push({ field: `values.${threshold.name}`, message: read.message });
      else if (!sameValue(read.value, threshold.value)) values[threshold.name] = read.value;
    }
    if (problems.length) {
      showFieldErrors(problems);
      return;
    }
    const names = Object.keys(values);
    if (!names.length) {
      showStatus("Nothing to save: no value was changed on this page.");
      return;
    }
    put(values, (after) => {
      // What the server holds now (another operator may have changed a value since this
      // page loaded; the audit log has each change's value before).
      const changes = names.map((name) => {
        const now = after.find((t) => t.name === name);
        return `${humanName(name)} is now ${shown(now && now.value)}`;
      });
      return `Saved for ${tenantLabel(state.data.tenant_id)}: ${changes.join("; ")}.`;
    });
  }

  function clearOverride(threshold) {
    clearMessages();
    clearFieldErrors();
    put({ [threshold.name]: null }, (after) => {
      const now = after.find((t) => t.name === threshold.name);
      return (
        `Override of ${humanName(threshold.name)} cleared for ` +
        `${tenantLabel(state.data.tenant_id)}: it now has the default, ${shown(now && now.value)}.`
      );
    }, threshold.name);
  }

  function onReset() {
    clearMessages();
    if (state.data) render(state.data);
  }

  // ---------------------------------------------------------------- start

  function start() {
    ui.signInForm.addEventListener("submit", onSignInSubmit);
    ui.token.addEventListener("keydown", (event) => {
      // A token is one line: Enter after pasting it signs in, as in any one-line field.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.signInForm.requestSubmit();
      }
    });
    ui.signOut.addEventListener("click", onSignOutClick);
    ui.tenant.addEventListener("change", onTenantChange);
    ui.form.addEventListener("submit", onSave);
    ui.reset.addEventListener("click", onReset);
    window.addEventListener("beforeunload", (event) => {
      if (hasUnsavedEdits()) event.preventDefault();
    });
    takeTokenFromFragment();
    const token = store.get(TOKEN_KEY);
    if (token) {
      signIn(token);
    } else {
      ui.signIn.hidden = false;
      ui.token.focus();
    }
  }

  start();
})();
