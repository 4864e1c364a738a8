"""SMS through local simulators of Eskiz.uz and Twilio."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.test import override_settings

from kassa.config import ConfigError, parse_sms_url
from kassa.core.models import Organization
from kassa.customers.models import Customer
from kassa.notifications import delivery
from kassa.notifications.models import Notification, NotificationStatus, RecipientState
from kassa.notifications.services import notify
from tests.notifications.test_email import make_due_now
from tests.simulators.eskiz import EskizSimulator
from tests.simulators.twilio import ACCOUNT_SID, FROM, TwilioSimulator

pytestmark = pytest.mark.django_db

Tasks = Callable[[], int]


@pytest.fixture
def via_eskiz(eskiz: EskizSimulator) -> Iterator[EskizSimulator]:
    with override_settings(KASSA_SMS=parse_sms_url(eskiz.kassa_sms_url())):
        yield eskiz


@pytest.fixture
def via_twilio(twilio: TwilioSimulator) -> Iterator[TwilioSimulator]:
    with override_settings(KASSA_SMS=parse_sms_url(twilio.kassa_sms_url())):
        yield twilio


def make_customer(org: Organization, phone: str, locale: str = "uz") -> Customer:
    return Customer.objects.create(
        organization=org, name="Aziz", email="", phone=phone, locale=locale
    )


def sms_row(org: Organization, customer: Customer, amount: object = "5 UZS") -> Notification:
    rows = notify(org.id, "test.reminder", customer_id=customer.id, context={"amount": amount})
    (row,) = [r for r in rows if r.channel == "sms"]
    return row


# -- Eskiz -------------------------------------------------------------------------------------


def test_eskiz_logs_in_and_sends_the_short_text_in_the_customers_language(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+998 90 123-45-67")
    row = sms_row(org, customer)
    tasks()
    assert via_eskiz.logins == 1
    (sent,) = via_eskiz.sent
    assert sent == {
        "id": sent["id"],
        "mobile_phone": "998901234567",
        "message": "Received 5 UZS [uz]",
        "from": "4546",
    }
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert row.provider_message_id == f"eskiz:{sent['id']}"
    # The token is kept: the next message needs no login.
    sms_row(org, customer, "6 UZS")
    tasks()
    assert via_eskiz.logins == 1
    assert len(via_eskiz.sent) == 2


def test_an_expired_eskiz_token_is_renewed_once(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+998901234567")
    sms_row(org, customer)
    tasks()
    via_eskiz.expire_tokens()
    row = sms_row(org, customer, "7 UZS")
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert via_eskiz.logins == 2
    assert [s["message"] for s in via_eskiz.sent] == ["Received 5 UZS [uz]", "Received 7 UZS [uz]"]


def test_an_eskiz_outage_is_retried(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+998901234567")
    via_eskiz.fail_next = [502]
    row = sms_row(org, customer)
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "502" in row.last_error
    make_due_now()
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    assert len(via_eskiz.sent) == 1


def test_numbers_eskiz_cannot_deliver_to_pause_the_channel(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+998001234567")
    via_eskiz.invalid_numbers.add("998001234567")
    for n in range(delivery.PAUSE_AFTER_HARD_FAILURES):
        row = sms_row(org, customer, n)
        tasks()
        row.refresh_from_db()
        assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
        assert "Invalid mobile_phone" in row.last_error
    state = RecipientState.objects.get(channel="sms", recipient="+998001234567")
    assert state.paused_at is not None
    row = sms_row(org, customer, "again")
    assert row.status == NotificationStatus.SKIPPED
    assert "paused" in row.last_error
    assert via_eskiz.sent == []


def test_a_number_that_is_not_e164_fails_without_calling_the_provider(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "90 123 45 67")
    row = sms_row(org, customer)
    tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert "E.164" in row.last_error
    assert via_eskiz.logins == 0
    assert RecipientState.objects.get(channel="sms").hard_failures == 1


def test_eskiz_refuses_foreign_numbers_without_blaming_the_number(
    org: Organization, via_eskiz: EskizSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+4915123456789", locale="de")
    row = sms_row(org, customer)
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert "+998" in row.last_error
    assert not RecipientState.objects.exists()
    assert via_eskiz.sent == []


def test_wrong_eskiz_credentials_are_retried_not_blamed_on_the_number(
    org: Organization, eskiz: EskizSimulator, tasks: Tasks
) -> None:
    wrong = eskiz.kassa_sms_url().replace(":eskiz-secret@", ":wrong@")
    with override_settings(KASSA_SMS=parse_sms_url(wrong)):
        row = sms_row(org, make_customer(org, "+998901234567"))
        tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "login failed with 401" in row.last_error
    assert not RecipientState.objects.exists()
    assert eskiz.sent == []


# -- Twilio ------------------------------------------------------------------------------------


def test_twilio_sends_with_basic_auth(
    org: Organization, via_twilio: TwilioSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+4915123456789", locale="de")
    row = sms_row(org, customer)
    tasks()
    (sent,) = via_twilio.sent
    assert (sent["to"], sent["from"], sent["body"]) == (
        "+4915123456789",
        FROM,
        "Received 5 UZS [de]",
    )
    assert sent["account_sid"] == ACCOUNT_SID
    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert row.provider_message_id == f"twilio:{sent['sid']}"


@pytest.mark.parametrize(
    ("listing", "code"), [("invalid_numbers", "21211"), ("opted_out", "21610")]
)
def test_twilio_numbers_that_cannot_receive_are_hard_failures(
    org: Organization, via_twilio: TwilioSimulator, tasks: Tasks, listing: str, code: str
) -> None:
    customer = make_customer(org, "+15005550001")
    getattr(via_twilio, listing).add("+15005550001")
    for n in range(delivery.PAUSE_AFTER_HARD_FAILURES):
        row = sms_row(org, customer, n)
        tasks()
        row.refresh_from_db()
        assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
        assert code in row.last_error
    assert RecipientState.objects.get(channel="sms").paused_at is not None
    assert sms_row(org, customer, "x").status == NotificationStatus.SKIPPED


def test_twilio_rate_limits_and_outages_are_retried(
    org: Organization, via_twilio: TwilioSimulator, tasks: Tasks
) -> None:
    customer = make_customer(org, "+15005550001")
    via_twilio.fail_next = [429, 503]
    row = sms_row(org, customer)
    for expected in ("429", "503"):
        tasks()
        row.refresh_from_db()
        assert row.status == NotificationStatus.RETRYING
        assert expected in row.last_error
        make_due_now()
    tasks()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 3)
    assert len(via_twilio.sent) == 1


def test_wrong_twilio_credentials_are_retried_not_blamed_on_the_number(
    org: Organization, twilio: TwilioSimulator, tasks: Tasks
) -> None:
    wrong = twilio.kassa_sms_url().replace(":twilio-auth-token@", ":wrong@")
    with override_settings(KASSA_SMS=parse_sms_url(wrong)):
        row = sms_row(org, make_customer(org, "+15005550001"))
        tasks()
    row.refresh_from_db()
    assert row.status == NotificationStatus.RETRYING
    assert "20003" in row.last_error
    assert not RecipientState.objects.exists()


# -- without a provider, and the configuration -------------------------------------------------


def test_without_a_provider_sms_rows_are_skipped(org: Organization, tasks: Tasks) -> None:
    with override_settings(KASSA_SMS=None):
        row = sms_row(org, make_customer(org, "+998901234567"))
    assert row.status == NotificationStatus.SKIPPED
    assert "KASSA_SMS_URL" in row.last_error


def test_kassa_sms_url_is_parsed() -> None:
    eskiz = parse_sms_url("eskiz://me%40shop.uz:pa%3Ass@notify.eskiz.uz?from=Shop")
    assert eskiz is not None
    assert (eskiz.provider, eskiz.base_url, eskiz.username, eskiz.password, eskiz.sender) == (
        "eskiz",
        "https://notify.eskiz.uz",
        "me@shop.uz",
        "pa:ss",
        "Shop",
    )
    twilio = parse_sms_url("twilio+http://AC1:tok@127.0.0.1:8099?messaging_service_sid=MG1")
    assert twilio is not None
    assert (twilio.base_url, twilio.messaging_service, twilio.sender) == (
        "http://127.0.0.1:8099",
        "MG1",
        "",
    )
    assert parse_sms_url("") is None
    for bad in (
        "nexmo://a:b@x",
        "eskiz://notify.eskiz.uz",
        "twilio://AC1:tok@api.twilio.com",
        "eskiz://a:b@host:notaport",
    ):
        with pytest.raises(ConfigError):
            parse_sms_url(bad)
