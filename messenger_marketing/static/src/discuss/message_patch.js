/** @odoo-module **/

import { Message } from "@mail/core/common/message";
import { Message as MessageModel } from "@mail/core/common/message_model";
import { patch } from "@web/core/utils/patch";
import { MESSENGER_STATUS } from "./messenger_discuss";

patch(Message.prototype, {
    get messengerStatus() {
        return MESSENGER_STATUS;
    },
});

patch(MessageModel.prototype, {
    /**
     * A message to the customer may be edited or deleted only while none of it left the
     * queue (the server says so with its status, and refuses it afterwards): what went
     * stays as the customer got it.
     */
    get editable() {
        if (this.messenger_status && !this.messenger_editable) {
            return false;
        }
        return super.editable;
    },
});
