"""When each number last failed a login, so the sweep can forget old failures. Rows
already there count as failed now: they are forgotten a full period later at most."""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('abuse', '0003_counters_unlogged'),
    ]

    operations = [
        migrations.AddField(
            model_name='loginthrottle',
            name='last_failure_at',
            field=models.DateTimeField(db_index=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
    ]
