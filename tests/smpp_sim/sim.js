// An SMPP server on loopback for tests/test_smpp.py, built on the npm package `smpp`.
//
//   node sim.js SYSTEM_ID PASSWORD REFUSED_PREFIX THROTTLED_PREFIX SILENT_PREFIX \
//     LATER_PARTS_THROTTLED_PREFIX NO_RECEIPTS_PREFIX HELD_RECEIPTS_PREFIX
//
// Prints one JSON object per line on stdout: {"event": "listening", "port": N} once,
// then {"event": "submit_sm", ...} for every message it takes. Binds with another
// system id or password fail; numbers starting with REFUSED_PREFIX are refused
// (ESME_RINVDSTADR, permanent), with THROTTLED_PREFIX throttled (ESME_RTHROTTLED),
// with SILENT_PREFIX never answered (a wedged session), with
// LATER_PARTS_THROTTLED_PREFIX throttled from the second part of a message on (and
// no receipt sent), with NO_RECEIPTS_PREFIX taken but sent no receipt (the test sends
// its own), with HELD_RECEIPTS_PREFIX taken, the receipt of each message's last part
// held until another session binds (as an SMSC keeps receipts for a client that went
// away and came back with a new bind), then sent to that session.
// Every message it takes is "delivered" at once: a deliver_sm receipt follows.
'use strict';
const smpp = require('smpp');

const [systemId, password, refusedPrefix, throttledPrefix, silentPrefix,
  laterPartsThrottledPrefix, noReceiptsPrefix, heldReceiptsPrefix] = process.argv.slice(2);
let nextId = 1;
// Receipts waiting for a session other than the one that took their message.
let held = [];

function print(event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function receiptText(messageId) {
  const now = new Date().toISOString().replace(/[-:T]/g, '').slice(2, 12);
  return `id:${messageId} sub:001 dlvrd:001 submit date:${now} done date:${now} ` +
    'stat:DELIVRD err:000 text:';
}

const server = smpp.createServer((session) => {
  let bound = false;
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== systemId || pdu.password !== password) {
      session.send(pdu.response({command_status: smpp.ESME_RBINDFAIL}));
      session.close();
      return;
    }
    bound = true;
    session.send(pdu.response());
    const forThisSession = held.filter((receipt) => receipt.session !== session);
    held = held.filter((receipt) => receipt.session === session);
    for (const receipt of forThisSession) {
      session.send(new smpp.PDU('deliver_sm', receipt.fields));
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', (pdu) => {
    if (!bound) {
      session.send(pdu.response({command_status: smpp.ESME_RINVBNDSTS}));
      return;
    }
    const to = pdu.destination_addr;
    if (refusedPrefix && to.startsWith(refusedPrefix)) {
      session.send(pdu.response({command_status: smpp.ESME_RINVDSTADR}));
      return;
    }
    if (silentPrefix && to.startsWith(silentPrefix)) {
      return;
    }
    const udh = (pdu.short_message || {}).udh || [];
    const partNumber = udh.length ? Buffer.from(udh[0])[4] : 1;
    const partCount = udh.length ? Buffer.from(udh[0])[3] : 1;
    if (laterPartsThrottledPrefix && to.startsWith(laterPartsThrottledPrefix) && partNumber > 1) {
      session.send(pdu.response({command_status: smpp.ESME_RTHROTTLED}));
      return;
    }
    if (throttledPrefix && to.startsWith(throttledPrefix)) {
      session.send(pdu.response({command_status: smpp.ESME_RTHROTTLED}));
      return;
    }
    const messageId = `sim${nextId++}`;
    const message = pdu.short_message || {};
    print({
      event: 'submit_sm',
      message_id: messageId,
      source_addr: pdu.source_addr,
      source_addr_ton: pdu.source_addr_ton,
      source_addr_npi: pdu.source_addr_npi,
      destination_addr: to,
      dest_addr_ton: pdu.dest_addr_ton,
      dest_addr_npi: pdu.dest_addr_npi,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      udh: (message.udh || []).map((part) => Buffer.from(part).toString('hex')),
      message: typeof message.message === 'string' ? message.message : '',
    });
    session.send(pdu.response({message_id: messageId}));
    const receipts = !(laterPartsThrottledPrefix && to.startsWith(laterPartsThrottledPrefix)) &&
      !(noReceiptsPrefix && to.startsWith(noReceiptsPrefix));
    if (receipts && pdu.registered_delivery & 0x01) {
      const fields = {
        source_addr: to,
        destination_addr: pdu.source_addr,
        esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
        short_message: receiptText(messageId),
        receipted_message_id: messageId,
        message_state: smpp.MESSAGE_STATE.DELIVERED,
      };
      if (heldReceiptsPrefix && to.startsWith(heldReceiptsPrefix) && partNumber === partCount) {
        held.push({session, fields});
      } else {
        session.send(new smpp.PDU('deliver_sm', fields));
      }
    }
  });
  session.on('deliver_sm_resp', () => {});
  session.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  print({event: 'listening', port: server.address().port});
});
