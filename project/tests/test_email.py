import pytest
from django.core.exceptions import ImproperlyConfigured

from project.email import email_settings_from_url

SMTP = "django.core.mail.backends.smtp.EmailBackend"


def test_smtp_url_with_starttls_by_default():
    assert email_settings_from_url("smtp://mailer:p%40ss%2Fword@mail.example.com") == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p@ss/word",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }


def test_smtp_over_tls_and_plain():
    ssl = email_settings_from_url("smtp+ssl://u:p@mail.example.com")
    assert (ssl["EMAIL_PORT"], ssl["EMAIL_USE_SSL"], ssl["EMAIL_USE_TLS"]) == (465, True, False)
    plain = email_settings_from_url("smtp+plain://relay:2525")
    assert plain["EMAIL_PORT"] == 2525
    assert not plain["EMAIL_USE_SSL"] and not plain["EMAIL_USE_TLS"]
    assert plain["EMAIL_HOST_USER"] == ""


def test_console_url():
    assert email_settings_from_url("console://") == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"
    }


@pytest.mark.parametrize(
    "url", ["http://mail.example.com", "mail.example.com", "smtp://", "smtp://host:port"]
)
def test_bad_urls_say_what_is_wrong(url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        email_settings_from_url(url)
