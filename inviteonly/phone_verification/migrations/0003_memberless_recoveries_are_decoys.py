"""Open recovery verifications made before ``can_succeed`` existed: those without a
member were decoys (their number had no account) and must stay unconfirmable."""

from django.db import migrations


def mark_decoys(apps, schema_editor):  # type: ignore[no-untyped-def]
    PhoneVerification = apps.get_model("phone_verification", "PhoneVerification")
    PhoneVerification.objects.filter(purpose="recovery", member__isnull=True).update(
        can_succeed=False
    )


class Migration(migrations.Migration):
    dependencies = [("phone_verification", "0002_phoneverification_can_succeed_and_more")]

    operations = [migrations.RunPython(mark_decoys, migrations.RunPython.noop)]
