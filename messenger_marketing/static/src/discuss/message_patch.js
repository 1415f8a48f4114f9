/** @odoo-module **/

import { Message } from "@mail/core/common/message";
import { Message as MessageModel } from "@mail/core/common/message_model";
import { patch } from "@web/core/utils/patch";
import { MESSENGER_STATUS } from "./messenger_discuss";

// Not taken by the dispatcher yet: a post may still be changed or deleted (the server
// refuses it afterwards, core/outbox.py UNCLAIMED).
const UNCLAIMED = ["queued", "held"];

patch(Message.prototype, {
    get messengerStatus() {
        return MESSENGER_STATUS;
    },
});

patch(MessageModel.prototype, {
    /** What went to the customer stays as they got it: no edit or delete once it left. */
    get editable() {
        if (this.messenger_status && !UNCLAIMED.includes(this.messenger_status)) {
            return false;
        }
        return super.editable;
    },
});
