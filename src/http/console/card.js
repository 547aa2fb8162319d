// contactd console: a contact's card (SPEC 9): its facts, tickets, metadata and the
// metadata editor, integration data and the conversation. Uses console.js's helpers.
'use strict';

/** "Ventas › Nuevo lead" for a stage of the key's pipelines; the id itself otherwise. */
function stageName(id) {
  if (!id) return null;
  const name = state.stages && state.stages.get(id);
  return name ? el('span', { title: id }, name) : el('code', {}, id);
}

async function loadStages() {
  if (state.stages) return;
  const stages = new Map();
  for (const pipeline of await api('/api/public/pipeline')) {
    for (const stage of pipeline.stages || []) stages.set(stage.id, `${pipeline.name} › ${stage.name}`);
  }
  state.stages = stages;
}

async function loadCard(id) {
  state.card = null;
  const view = $('#card-view');
  view.replaceChildren(el('p', { class: 'status', role: 'status' }, 'Loading the contact…'));
  let contact;
  try {
    await loadStages();
    contact = await api(`/api/public/contact/${encodeURIComponent(id)}/info`);
    notice('');
  } catch (e) {
    if (e.status === 401) return refused(e);
    view.replaceChildren(back(), el('p', { class: 'error', role: 'alert' },
      e.status === 404 ? 'This key has no such contact.' : e.message));
    return;
  }
  state.card = { id: contact.id, tag: null, shown: contact };
  view.replaceChildren(
    back(),
    el('article', { class: 'card' },
      el('header', { class: 'card-head', id: 'card-head' }),
      el('dl', { class: 'facts', id: 'card-facts' }),
      el('h2', {}, 'Tickets'),
      el('div', { class: 'tickets', id: 'card-tickets' }),
      el('h2', {}, 'Metadata'),
      el('div', { id: 'metadata' }),
      editor(contact.id),
      el('h2', {}, 'Integration data'),
      el('div', { id: 'integration' }),
      el('h2', {}, 'Conversation'),
      el('div', { id: 'conversation' }),
      customerBox(contact.id)));
  fillCard(contact);
  view.querySelector('h1').focus();
  loadMessages(contact.id, null);
}

/** The parts of a card that a change to the contact changes. */
function fillCard(contact) {
  $('#card-head').replaceChildren(
    el('h1', { tabindex: '-1' }, contact.name),
    el('p', { class: 'contact-badges' }, badge('platform', contact.platform),
      badge('status', contact.chat_status), contact.is_chat_read ? badge('flag', 'read') : badge('flag', 'unread'),
      contact.blocked ? badge('flag', 'blocked') : null));
  $('#card-facts').replaceChildren(
    ...fact('Email', contact.email), ...fact('Phone', contact.phone),
    ...fact('Created', when(contact.created_at)), ...fact('Last message', when(contact.last_message_at)),
    ...fact('Last message text', contact.last_message_content),
    ...fact('Contact id', el('code', {}, contact.id)), ...fact('Customer id', el('code', {}, contact.ai_customer_id)),
    ...fact('Client id', el('code', {}, contact.client_id)),
    ...fact('Default stage', stageName(contact.default_stage_id)));
  $('#card-tickets').replaceChildren(
    ticket('Active ticket', contact.active_ticket, closeButton(contact.active_ticket)),
    ticket('Last closed ticket', contact.last_closed_ticket));
  $('#metadata').replaceChildren(table(contact.metadata, 'No metadata yet.'));
  $('#integration').replaceChildren(contact.current_integration_data === null
    ? el('p', { class: 'muted' }, 'No integration data.')
    : table(contact.current_integration_data));
}

function back() {
  return el('p', {}, el('a', { href: '#/', class: 'back' }, '← All contacts'));
}

function fact(label, value) {
  return [el('dt', {}, label), el('dd', {}, value === null || value === undefined || value === ''
    ? el('span', { class: 'muted' }, '—') : value)];
}

function ticket(title, t, action = null) {
  if (!t) return el('section', { class: 'ticket empty' }, el('h3', {}, title), el('p', { class: 'muted' }, 'None.'));
  return el('section', { class: 'ticket' },
    el('h3', {}, title, ' ', badge('ticket', t.status)),
    action,
    el('dl', { class: 'facts' },
      fact('Summary', t.ticket_summary), fact('Opened', when(t.created_at)), fact('Updated', when(t.updated_at)),
      fact('Ticket id', el('code', {}, t.id))),
    el('h4', {}, 'Ticket metadata'),
    table(t.metadata, 'No metadata.'));
}

/** The conversation, 50 messages a page; starts at the newest page. */
async function loadMessages(id, page, quiet = false) {
  const box = $('#conversation');
  if (!box) return;
  if (!quiet) box.replaceChildren(el('p', { class: 'status', role: 'status' }, 'Loading the conversation…'));
  let answer;
  try {
    answer = await api(`/api/public/contact/v2/${id}/messages?page=${page || 1}`);
    const last = Math.max(1, Math.ceil(answer.total / MESSAGES_PER_PAGE));
    if (page === null && last > 1) return loadMessages(id, last, quiet);
  } catch (e) {
    if (e.status === 401) return refused(e);
    box.replaceChildren(el('p', { class: 'error', role: 'alert' }, e.message));
    return;
  }
  const pages = Math.max(1, Math.ceil(answer.total / MESSAGES_PER_PAGE));
  if (answer.total === 0) {
    box.replaceChildren(el('p', { class: 'muted' }, 'No messages.'));
    return;
  }
  box.replaceChildren(
    el('nav', { class: 'pager', 'aria-label': 'Pages of the conversation' },
      el('button', { type: 'button', id: 'older', disabled: answer.page <= 1, onclick: () => loadMessages(id, answer.page - 1) }, 'Older'),
      el('span', {}, `Page ${answer.page} of ${pages} · ${answer.total} messages`),
      el('button', { type: 'button', id: 'newer', disabled: !answer.hasMore, onclick: () => loadMessages(id, answer.page + 1) }, 'Newer')),
    el('ol', { class: 'messages' }, answer.messages.map((m) => el('li', { class: `message ${m.direction.toLowerCase()}` },
      el('p', { class: 'message-meta' }, m.direction === 'INBOUND' ? 'from contact' : 'to contact', ' · ',
        when(m.created_at), ' · ', m.type, ' · ', m.status),
      m.body ? el('p', { class: 'message-body' }, m.body) : el('p', { class: 'muted' }, `(${m.type} without text)`),
      m.media_url ? el('p', { class: 'message-media' }, 'media: ', el('code', {}, m.media_url)) : null))));
}

function editor(id) {
  const rows = el('div', { class: 'rows' });
  const addRow = (key = '', value = '') => rows.append(el('div', { class: 'row' },
    el('label', {}, 'Key', el('input', { class: 'edit-key', value: key, autocomplete: 'off' })),
    el('label', {}, 'Value', el('input', { class: 'edit-value', value, autocomplete: 'off' }))));
  addRow();
  const result = el('p', { class: 'status', role: 'status', id: 'edit-result' });
  const save = async (event) => {
    event.preventDefault();
    const body = {};
    for (const row of rows.querySelectorAll('.row')) {
      const key = row.querySelector('.edit-key').value;
      const raw = row.querySelector('.edit-value').value;
      if (!key.trim()) continue;
      body[key] = parseValue(raw);
    }
    result.className = 'status';
    result.textContent = 'Saving…';
    try {
      const written = await api(`/api/public/contact/${id}/update-metadata`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      result.textContent = written.length === 0 ? 'Nothing to write.'
        : `Stored as: ${written.map((w) => w.key).join(', ')}.`;
      const fresh = await api(`/api/public/contact/${id}/info`);
      $('#metadata').replaceChildren(table(fresh.metadata, 'No metadata yet.'));
      rows.replaceChildren();
      addRow();
    } catch (e) {
      if (e.status === 401) return refused(e);
      result.className = 'error';
      result.textContent = `Not saved: ${e.message}`;
    }
  };
  return el('form', { class: 'editor panel', id: 'editor', onsubmit: save },
    el('h3', {}, 'Write metadata'),
    el('p', { class: 'hint' }, 'Keys are stored in snake_case (companyName → company_name). Values are read as JSON when they parse (42, true, null, {"a":1}), else as text.'),
    rows,
    el('p', { class: 'actions' },
      el('button', { type: 'button', class: 'quiet', onclick: () => addRow() }, 'Add a key'),
      el('button', { type: 'submit' }, 'Save')),
    result);
}

/** The typed text as JSON when it parses (numbers kept exactly as typed), else as text. */
function parseValue(raw) {
  try {
    return parseExact(raw);
  } catch (e) {
    return raw;
  }
}

